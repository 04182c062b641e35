// Starts what the benchmarks load, as child processes on loopback in temp data dirs, and stops them after:
// one `raftbox serve`, or `raftbox cluster --nodes 3` (nodes plus a round-robin nginx when it is installed).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeBalance, type LbBalance } from '../../cluster/nginx-site.ts';
import { freePort, freePortRun } from '../../test/support/index.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 60_000;

export interface Topology {
  name: 'single' | 'cluster';
  /** What the load generator hits: the node, nginx, or the nodes themselves when nginx is missing. */
  urls: string[];
  /** The nodes themselves, for benchmarks that pick one (a leader, a follower). */
  nodes: string[];
  /** How requests reach the nodes, for the report. */
  routing: string;
  /** The processes serving: the node, or `raftbox cluster`'s supervisor (its nodes are its children). */
  pid: number;
  stop(): Promise<void>;
}

function hasNginx(): boolean {
  return !spawnSync('nginx', ['-v']).error;
}

function spawnCli(args: string[]): ChildProcess {
  // Children log to our stderr, so stdout keeps only the benchmark's own output.
  return spawn(process.execPath, ['--no-node-snapshot', 'src/cli/main.ts', ...args, '--log-level', 'warn'], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

/** One `1 + 1` through `url`: true when it answers 2. */
export async function smoke(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/api/exec?wait=5000`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: '1 + 1' }),
    });
    return res.status === 200 && ((await res.json()) as { result?: unknown }).result === 2;
  } catch {
    return false;
  }
}

/**
 * Until each URL runs code, in order (readiness alone would not show nginx or a leaderless cluster
 * answering; nodes go before nginx, which would otherwise mark them failed while they start).
 */
async function waitServing(urls: string[], child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const url of urls) {
    while (!(await smoke(url))) {
      if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} before serving`);
      if (Date.now() > deadline) throw new Error(`${url} did not serve within ${READY_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function started(name: Topology['name'], child: ChildProcess, dataDir: string, where: Pick<Topology, 'urls' | 'nodes' | 'routing'>): Promise<Topology> {
  const stop = async () => {
    await stopChild(child);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // Every node must serve, not only the path through nginx; nodes first.
    await waitServing([...new Set([...where.nodes, ...where.urls])], child);
  } catch (err) {
    await stop();
    throw err;
  }
  return { name, ...where, pid: child.pid!, stop };
}

export async function startSingle(): Promise<Topology> {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-bench-'));
  const port = await freePort();
  const child = spawnCli(['serve', '--port', String(port), '--data-dir', dataDir]);
  const url = `http://${HOST}:${port}`;
  return started('single', child, dataDir, { urls: [url], nodes: [url], routing: 'one node' });
}

/**
 * `raftbox cluster --nodes 3` behind its nginx, spreading requests as `balance` says (nginx-site.ts);
 * without nginx, connections go to the nodes round-robin.
 */
export async function startCluster(balance: LbBalance = 'session'): Promise<Topology> {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-bench-cluster-'));
  const base = await freePortRun(3);
  const nodes = [0, 1, 2].map((i) => `http://${HOST}:${base + i}`);
  const lbPort = hasNginx() ? await freePort() : null;
  const lb = lbPort === null ? [] : ['--lb-port', String(lbPort), '--lb-balance', balance];
  const child = spawnCli(['cluster', '--nodes', '3', '--base-port', String(base), '--host', HOST, '--data-dir', dataDir, ...lb]);
  if (lbPort === null) {
    const routing = 'nginx not installed: each connection goes straight to one node, round-robin over connections (a session stays on its node)';
    return started('cluster', child, dataDir, { urls: nodes, nodes, routing });
  }
  const routing = `nginx over the 3 nodes: ${describeBalance(balance)}`;
  return started('cluster', child, dataDir, { urls: [`http://${HOST}:${lbPort}`], nodes, routing });
}
