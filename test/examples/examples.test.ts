// Every example in examples/ runs as a reader would run it, against a real node.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingPrerequisite, onPath } from '../deploy/prerequisites.ts';
import { startTestNode } from '../e2e/node.ts';

const repo = new URL('../../', import.meta.url).pathname;
let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode();
});
afterAll(() => node.stop());

/** Asynchronously: the node it talks to runs in this process. */
function run(command: string, args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(command, args, { cwd: repo, env: { ...process.env, RAFTBOX_URL: node.url } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

const noJq = missingPrerequisite('jq', onPath('jq'));

describe('examples/', () => {
  it('notebook-mcp.ts: cells keep state over MCP, and a fork does not see later cells', async () => {
    const r = await run(process.execPath, ['examples/notebook-mcp.ts']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/> prices\.push\(13\); total\(prices\)\n29\n[\s\S]*> prices\.push\(100\); total\(prices\)\n129\n[\s\S]*> total\(prices\)\n29\n/);
  });

  it('chart-png.ts: a PNG drawn in the sandbox comes back as an MCP image and a REST artifact', async () => {
    const r = await run(process.execPath, ['examples/chart-png.ts']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const [, bytes, file] = /^image\/png (\d+) bytes -> (\S+)\nalso at (\S+)\n$/.exec(r.out) ?? [];
    const png = readFileSync(file!);
    expect(png.length).toBe(Number(bytes));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const served = Buffer.from(await (await fetch(r.out.split('also at ')[1]!.trim())).arrayBuffer());
    expect(served.equals(png)).toBe(true);
    rmSync(file!);
  });

  it('typed-client.ts: runs, a journal, a page of executions', async () => {
    const r = await run(process.execPath, ['examples/typed-client.ts']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^completed \[ 1, 4, 9 \]\nstep 1: let squares[\s\S]*step 2: squares\.push\(16\)[\s\S]*four squares/);
  });

  it.skipIf(noJq !== null)('rest.sh: the REST API with curl', async () => {
    const r = await run('sh', ['examples/rest.sh']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/"result": 42[\s\S]*\n2\n2\n"raw typescript"\n[\s\S]*true\n$/);
  });

  it('cli.sh: the client commands', async () => {
    const r = await run('sh', ['examples/cli.sh']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^from stdin\n\[2,4,6\]\n1\n2\n/);
    expect(r.err).toMatch(/Error: on purpose/);
    expect(r.out).toMatch(/deleted session cli-\d+\n$/);
  }, 60_000);
});
