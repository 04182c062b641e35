// `raftbox cluster` as an operator runs it: a supervisor process and its nodes, on real ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePortRun, waitFor } from '../support/index.ts';
import { repo } from './harness.ts';

const bin = join(repo, 'bin/raftbox.js');
const env = { ...process.env, RAFTBOX_LOG_LEVEL: 'info' };
const dirs: string[] = [];
const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function supervise(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const dataDir = mkdtempSync(join(tmpdir(), 'raftbox-local-cluster-'));
  dirs.push(dataDir);
  const child = spawn(process.execPath, [bin, 'cluster', '--data-dir', dataDir, '--shutdown-grace-secs', '1', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
}

const answers = (port: number) => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);

/** Pid of the process whose argv passes `match` (read from /proc, as `ps` would). */
function pidOf(what: string, match: (argv: string[]) => boolean): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (match(readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no process for ${what}`);
}

const nodePid = (port: number) => pidOf(`the node on ${port}`, (argv) => argv.includes('serve') && argv[argv.indexOf('--port') + 1] === String(port));

describe('raftbox cluster', () => {
  it('exits non-zero when its nodes cannot start', async () => {
    const base = await freePortRun(2);
    const run = supervise(['--nodes', '2', '--base-port', String(base), '--max-concurent', '1']);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/\[cluster\] n\d could not start \(exited with code 2\); stopping/);
    expect(run.output()).toMatch(/did you mean --max-concurrent\?/);
  }, 60_000);

  it('takes its nodes with it when the supervisor is killed with SIGKILL', async () => {
    const base = await freePortRun(2);
    const run = supervise(['--nodes', '2', '--base-port', String(base)]);
    await waitFor('all nodes ready', () => run.output().includes('all nodes ready'), 45_000);
    // The supervisor itself (bin/raftbox.js re-executes it on the pinned Node), not its launcher.
    const supervisor = pidOf('the supervisor', (argv) => argv.includes('cluster') && argv.includes(String(base)) && argv.some((a) => a.endsWith('main.ts')));
    process.kill(supervisor, 'SIGKILL');
    await waitFor('the nodes to end with their supervisor', async () => !(await answers(base)) && !(await answers(base + 1)), 30_000);
  }, 90_000);

  it('restarts a node that dies with --restart, and stops the whole cluster quietly on SIGINT', async () => {
    const base = await freePortRun(3);
    const run = supervise(['--nodes', '3', '--base-port', String(base), '--restart']);
    await waitFor('all nodes ready', () => run.output().includes('all nodes ready'), 45_000);
    process.kill(nodePid(base + 1), 'SIGKILL');
    await waitFor('n2 restarted', () => run.output().includes('[cluster] n2 exited (SIGKILL); restarting it'), 20_000);
    await waitFor('n2 answering again', () => answers(base + 1), 30_000);
    // Runs still going when the cluster stops: their final records meet nodes that are all leaving.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`http://127.0.0.1:${base + i}/api/exec`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'for (let i = 0; i < 1e10; i++) {}' }) });
      expect(res.status).toBe(202);
    }
    const before = run.output().length;
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    // A whole-cluster stop is routine: no failed hand-off, no warning, no stack trace.
    const stopping = run.output().slice(before);
    expect(stopping.split('\n').filter((l) => /hand-off failed|RaftTimeoutError|"level":(40|50)/.test(l))).toEqual([]);
    expect(stopping).toMatch(/shutting down with the whole cluster/);
    for (let i = 0; i < 3; i++) expect(await answers(base + i)).toBe(false);
  }, 120_000);
});
