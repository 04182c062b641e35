import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repo } from '../cluster/harness.ts';
import { freePort, waitFor } from '../support/index.ts';

const GRACE_SECS = 5;
let dataDir: string;
let port: number;
let child: ChildProcess | null = null;
let output = '';

async function serve(): Promise<void> {
  const args = ['--no-node-snapshot', 'src/cli/main.ts', 'serve', '--port', String(port), '--data-dir', dataDir, '--shutdown-grace-secs', String(GRACE_SECS), '--max-concurrent', '2'];
  child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
  const collect = (c: Buffer) => (output += c.toString());
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  await waitFor('the node to be ready', () => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false), 30_000);
}

/** The exit code, or the signal that killed the process. */
const exited = (c: ChildProcess) =>
  new Promise<number | string | null>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode ?? c.signalCode) : c.once('exit', (code, signal) => resolve(code ?? signal))));
const post = (path: string, body: object) => fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'raftbox-shutdown-'));
  port = await freePort();
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await rm(dataDir, { recursive: true, force: true });
});

describe('SIGTERM', () => {
  it('lets a short run finish, fails a long one as "node shutting down" at the end of the grace period, and exits 0', async () => {
    await serve();
    // Both answered after the signal: the caller waiting on each gets its final record.
    const long = post('/api/exec?wait=60000', { code: 'while (true) {}', language: 'js', execution_timeout_secs: 60 });
    const short = post('/api/exec?wait=60000', { code: 'let i = 0; while (i < 2e8) i++; i', language: 'js' });
    await waitFor('both runs to start', async () => {
      const list = (await (await fetch(`http://127.0.0.1:${port}/api/executions?status=running`)).json()) as { executions: unknown[] };
      return list.executions.length === 2;
    });
    const t0 = Date.now();
    child!.kill('SIGTERM');
    const [longRes, shortRes, code] = await Promise.all([long, short, exited(child!)]);
    const elapsed = Date.now() - t0;
    expect(code, output).toBe(0);
    expect(elapsed).toBeLessThan((GRACE_SECS + 8) * 1000); // grace, then the hand-off and closing LevelDB
    const longRun = (await longRes.json()) as { execution_id: string; status: string; error: { message: string } };
    expect(longRun).toMatchObject({ status: 'failed', error: { message: expect.stringMatching(/^node shutting down/) } });
    expect(await shortRes.json()).toMatchObject({ status: 'completed', result: 2e8 });
    expect(output).toContain('"msg":"stopped"');

    // The failure was replicated and flushed before exit: the restarted node has it.
    await serve();
    const again = (await (await fetch(`http://127.0.0.1:${port}/api/executions/${longRun.execution_id}`)).json()) as { status: string; error: { message: string } };
    expect(again).toMatchObject({ status: 'failed', error: { message: expect.stringMatching(/^node shutting down/) } });
    child!.kill('SIGTERM');
    expect(await exited(child!), output).toBe(0);
  }, 60_000);
});
