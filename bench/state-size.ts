// Node memory and snapshot time against the size of the replicated state.
// Run: node --no-node-snapshot bench/state-size.ts
//   BENCH_STEPS=10000,100000   session steps in the state (default 10000,100000)
//   BENCH_STEP_BYTES=1000      code per step (random text: LevelDB cannot compress it away)
//   BENCH_NODE_CHECKOUT=<dir>  run the node of another checkout (its own node_modules) on the same data,
//                              to compare revisions; the snapshot row is measured with this checkout only
//   BENCH_COLLECT=off          leave the release queue undrained (as a long leaderless stretch would):
//                              one queued release per step, what a node must start on
// For each size: the state is made through the product's replica (Raft log and all), 200 sessions
// stepping in turn; then a `raftbox serve` child starts on it and its RSS and heap are read from
// /metrics once ready; then the state is streamed as a snapshot into a fresh state, timed.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { oauthStateModule } from '../src/auth/index.ts';
import { domainModules } from '../src/executions/index.ts';
import { openReplica } from '../src/replication/index.ts';
import { SessionSweeper } from '../src/sessions/index.ts';
import { ReplicatedState } from '../src/store/index.ts';
import { freePort, sessionStepCommand, startChild, stopChild, waitFor } from '../test/support/index.ts';

const SIZES = (process.env.BENCH_STEPS ?? '10000,100000').split(',').map(Number);
const STEP_BYTES = Number(process.env.BENCH_STEP_BYTES ?? 1000);
const SESSIONS = 200;
const checkout = resolve(process.env.BENCH_NODE_CHECKOUT ?? '.');
const collect = process.env.BENCH_COLLECT !== 'off';
const modules = () => [...domainModules(), oauthStateModule];

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

async function makeState(dataDir: string, steps: number): Promise<void> {
  const replica = await openReplica({ nodeId: 'n1', peers: {}, dataDir, modules: modules() });
  await waitFor('the node to lead', () => replica.raft.status().role === 'leader');
  const heads: Array<string | null> = Array.from({ length: SESSIONS }, () => null);
  // As the leader's sweeper does on a node: each step releases its session's old head through a queue
  // that collection drains (session-lifecycle.ts).
  const sweeper = new SessionSweeper(replica.state, replica.commandLog, { ttlMs: 0, intervalMs: 3_600_000, isLeader: () => true });
  for (let done = 0; done < steps; done += SESSIONS) {
    if (collect && done % (SESSIONS * 10) === 0) await sweeper.sweep();
    await Promise.all(
      heads.map(async (parent, s) => {
        const cmd = sessionStepCommand(`s${s}`, parent, done / SESSIONS + 1, 'globalThis.n = (globalThis.n ?? 0) + 1', STEP_BYTES);
        await replica.commandLog.propose(cmd);
        heads[s] = cmd.heap;
      }),
    );
  }
  if (collect) await sweeper.sweep();
  sweeper.stop();
  await replica.close();
}

async function nodeMemory(dataDir: string): Promise<{ rssMb: number; heapMb: number; readyS: number }> {
  const port = await freePort();
  const t0 = performance.now();
  // Standbys off: a starting node would otherwise rebuild its 64 most recent sessions (warm isolates, not the state).
  const node = startChild(['--no-node-snapshot', 'src/cli/main.ts', 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn', '--session-standbys', 'off'], { cwd: checkout });
  try {
    await waitFor('the node ready', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status === 200, () => false)) || (node.child.exitCode !== null && fail(node.output())), 600_000);
    const readyS = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)![1]) / 2 ** 20;
    return { rssMb: metric('process_resident_memory_bytes'), heapMb: metric('nodejs_heap_size_used_bytes'), readyS };
  } finally {
    await stopChild(node.child, 'SIGTERM');
  }
}

async function snapshotSeconds(dataDir: string): Promise<number> {
  const from = await ReplicatedState.open(join(dataDir, 'state'), modules());
  const to = await ReplicatedState.open(join(await mkdtemp(join(tmpdir(), 'raftbox-bench-restore-')), 'state'), modules());
  const t0 = performance.now();
  const restore = await to.beginRestore();
  for await (const chunk of from.snapshotChunks()) await restore.write(chunk);
  await restore.finish({ index: from.appliedIndex(), term: 0 });
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([from.close(), to.close()]);
  return seconds;
}

function fail(output: string): never {
  throw new Error(`the node exited: ${output}`);
}

console.log(`| steps | state on disk | node RSS / heap used when ready | ready after | snapshot stream + restore |`);
console.log('| --- | --- | --- | --- | --- |');
for (const steps of SIZES) {
  const dir = await mkdtemp(join(tmpdir(), 'raftbox-bench-state-'));
  try {
    await makeState(dir, steps);
    const diskMb = (await du(join(dir, 'state'))) / 2 ** 20;
    const mem = await nodeMemory(dir);
    const snap = await snapshotSeconds(dir);
    console.log(`| ${steps.toLocaleString('en')} | ${diskMb.toFixed(0)} MB | ${mem.rssMb.toFixed(0)} / ${mem.heapMb.toFixed(0)} MB | ${mem.readyS.toFixed(1)} s | ${snap.toFixed(1)} s |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
