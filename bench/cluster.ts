// Stateful steps/s on warm sessions through a 3-node cluster (every step committed through Raft before
// it is answered), with steps spread round-robin over the nodes and sticky per node; then failover: how
// long after its node's SIGKILL a session's next step succeeds on another node.
// Run: node --no-node-snapshot bench/cluster.ts   (BENCH_SECONDS=5 BENCH_SESSIONS=64 BENCH_STANDBYS=held|all|off BENCH_WARMUP_SECONDS=3)
//   BENCH_ROUNDS=5: round robin measured that many times in a row on the same sessions, each with the
//   nodes' CPU per step by thread and the bytes they wrote per step (how the cost moves as stores grow)
//   The cluster is warmed first with BENCH_WARMUP_SECONDS of round-robin steps on sessions of their own:
//   a node just started runs its paths unoptimized for its first thousand or so steps (bench/RESULTS.md).
//   BENCH_HEAVY_SECONDS=60: only the compute-heavy continuation (`heavyContinuation`), with this much
//   computation in the session's history, in steps of BENCH_HEAVY_STEP_SECONDS (default 10)
// Each session is one agent: it sends a step, waits for the answer, sends the next.
import { JsonConnection, type JsonAnswer } from './runner/json-connection.ts';
import { processesCpuMs, processesWrittenBytes, threadsCpuMs } from './runner/process-cpu.ts';
import { TestCluster } from '../test/cluster/harness.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 64);
const STANDBYS = process.env.BENCH_STANDBYS ?? 'held';
const HEAVY_SECONDS = Number(process.env.BENCH_HEAVY_SECONDS ?? 0);
const HEAVY_STEP_SECONDS = Number(process.env.BENCH_HEAVY_STEP_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);

const cluster = await TestCluster.start({ direct: true, args: ['--max-concurrent', '8', '--max-live-sessions', '256', '--session-standbys', STANDBYS] });
const urls = cluster.nodes.map((n) => n.url);

/** One keep-alive connection per (session, node), as an agent behind a balancer would hold. */
const connections = new Map<string, JsonConnection>();

async function step(url: string, session: string, code: string, key?: string, waitMs = 30_000): Promise<JsonAnswer> {
  const id = `${session} ${url}`;
  let conn = connections.get(id);
  if (!conn || conn.closed) connections.set(id, (conn = await JsonConnection.open(url)));
  try {
    return await conn.post(`/api/exec?wait=${waitMs}`, { code, session, language: 'js' }, key ? { 'idempotency-key': key } : {});
  } catch (err) {
    connections.delete(id);
    conn.close();
    throw err;
  }
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!.toFixed(2);

/** Node CPU per step, in all and by thread, and bytes written per step, between two readings; '' off Linux. */
function costPerStep(before: NodesReading, after: NodesReading, steps: number): string {
  if (before.cpu === null || after.cpu === null) return '';
  let text = `, node CPU ${((after.cpu - before.cpu) / steps).toFixed(2)} ms/step`;
  if (ROUNDS > 1 && before.threads && after.threads && before.written !== null && after.written !== null) {
    const threads = [...after.threads]
      .map(([name, ms]) => [name, (ms - (before.threads!.get(name) ?? 0)) / steps] as const)
      .filter(([, ms]) => ms >= 0.01)
      .sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => `${name} ${ms.toFixed(2)}`);
    text += ` (${threads.join(', ')}), written ${((after.written - before.written) / 1024 / steps).toFixed(1)} KB/step`;
  }
  return text;
}

interface NodesReading {
  cpu: number | null;
  threads: Map<string, number> | null;
  written: number | null;
}

function readNodes(): NodesReading {
  const pids = cluster.nodes.map((n) => n.child!.pid!);
  return { cpu: processesCpuMs(pids), threads: threadsCpuMs(pids), written: processesWrittenBytes(pids) };
}

/**
 * Each session steps sequentially (a step waits for the previous answer), all sessions at once, for
 * `seconds`; `rounds` times in a row on the same sessions, each measured on its own (the nodes' stores
 * grow from one to the next).
 */
async function throughput(label: string, nodeOf: (s: number, k: number) => number, seconds = SECONDS, rounds = 1): Promise<void> {
  const names = Array.from({ length: SESSIONS }, (_, s) => `${label}-${s}`);
  await Promise.all(names.map((n, s) => step(urls[nodeOf(s, 0)]!, n, 'let c = 0; c')));
  // Warm every node's isolate of every session once, so the run measures warm steps.
  for (let k = 1; k <= urls.length; k++) await Promise.all(names.map((n, s) => step(urls[nodeOf(s, k)]!, n, 'c += 1; c')));
  // What each session's next step must answer: its count of steps so far (its first answered 0).
  const next = names.map(() => urls.length + 1);
  for (let round = 1; round <= rounds; round++) {
    const latencies: number[] = [];
    let errors = 0;
    const before = readNodes();
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      names.map(async (n, s) => {
        while (performance.now() < end) {
          const t0 = performance.now();
          const r = await step(urls[nodeOf(s, next[s]!)]!, n, 'c += 1; c');
          latencies.push(performance.now() - t0);
          if (r.status !== 200 || r.json.result !== next[s]) {
            errors++;
            next[s] = r.json.result ?? next[s];
          }
          next[s]!++;
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    // Node CPU per step does not depend on what else the machine runs, unlike steps/s.
    const cost = costPerStep(before, readNodes(), latencies.length);
    const name = rounds > 1 ? `${label} (round ${round} of ${rounds})` : label;
    console.log(
      `${name}: ${Math.round(latencies.length / seconds)} steps/s (${SESSIONS} sessions), p50 ${pct(latencies, 50)} ms, p95 ${pct(latencies, 95)} ms, p99 ${pct(latencies, 99)} ms${cost}, wrong/failed ${errors}`,
    );
  }
}

/**
 * Ms of the next step on node 2 of a session whose first step node 2 served and whose other
 * `steps - 1` steps node 1 ran: what node 2 replays on the step's path, or does not with a standby.
 */
async function continuation(steps: number): Promise<number> {
  const name = `continue-${steps}-${Date.now()}`;
  await step(urls[1]!, name, 'let c = 0; c');
  for (let k = 1; k < steps; k++) await step(urls[0]!, name, 'c += 1; c');
  // A standby catches up in the background: give it the time it needs (a few ms per step replayed).
  await new Promise((res) => setTimeout(res, 3000));
  const t0 = performance.now();
  const r = await step(urls[1]!, name, 'c += 1; c');
  const ms = performance.now() - t0;
  if (r.json.result !== steps) throw new Error(`continuation lost state: ${JSON.stringify(r.json)}`);
  return ms;
}

/** Resolves once node `i` has used under 5 % of a core for a second: its background replays are done. */
async function idle(i: number): Promise<void> {
  const pid = cluster.nodes[i]!.child!.pid!;
  for (;;) {
    const before = processesCpuMs([pid])!;
    await new Promise((res) => setTimeout(res, 1000));
    if (processesCpuMs([pid])! - before < 50) return;
  }
}

/**
 * The compute-heavy case: a session whose first step node 2 served, then steps of ~`stepSeconds` of
 * computation each on node 1 until its history holds `seconds` of it. Then its next step, timed: on
 * node 2 right after node 1's answer (its standby is still replaying the last heavy step), on node 2
 * once that node is idle (the standby caught up), and on node 3, which never held the session (it
 * replays the whole history on the step's path, within a budget taken from the CPU the steps recorded).
 */
async function heavyContinuation(seconds: number, stepSeconds: number): Promise<void> {
  const name = `heavy-${Date.now()}`;
  await step(urls[1]!, name, 'let h = 0; h');
  const heavy = (n: number) => `{ let i = 0; while (i < ${n}) i++; } h += 1; h`;
  const t0 = performance.now();
  await step(urls[0]!, name, heavy(1e8));
  let msPerIteration = (performance.now() - t0) / 1e8;
  let history = (performance.now() - t0) / 1000;
  let steps = 1;
  const durations: number[] = [];
  while (history < seconds) {
    const iterations = Math.round((stepSeconds * 1000) / msPerIteration);
    const t = performance.now();
    const r = await step(urls[0]!, name, heavy(iterations), undefined, 120_000);
    if (r.status !== 200 || r.json.result !== ++steps) throw new Error(`heavy step failed: ${r.status} ${JSON.stringify(r.json)}`);
    const ms = performance.now() - t;
    durations.push(ms / 1000);
    history += ms / 1000;
    msPerIteration = ms / iterations;
  }
  console.log(`heavy session: ${steps} steps on node 1, ${history.toFixed(1)} s of computation (steps of ${durations.map((d) => d.toFixed(1)).join(', ')} s)`);
  const timed = async (label: string, i: number) => {
    const t = performance.now();
    let r = await step(urls[i]!, name, 'h', undefined, 600_000);
    // A rebuild longer than the step's time limit answers 503 and goes on: the step is retried, as a client would.
    let retries = 0;
    for (; r.status === 503 && r.json?.error === 'session_rebuilding'; retries++) r = await step(urls[i]!, name, 'h', undefined, 600_000);
    const ms = performance.now() - t;
    if (r.status !== 200 || r.json.result !== steps) throw new Error(`heavy continuation on node ${i + 1} failed: ${r.status} ${JSON.stringify(r.json)}`);
    console.log(`${label}: ${ms.toFixed(1)} ms${retries > 0 ? ` (${retries} answers of 503 session_rebuilding before it)` : ''}`);
  };
  await timed('next step on node 2 right after node 1 answered', 1);
  await idle(1);
  await timed('next step on node 2 once it is idle (its standby caught up)', 1);
  await timed('another step on node 2', 1);
  await timed('next step on node 3, which never held the session', 2);
}

/** Ms from SIGKILL of the node that served a session's last step to that session's next committed step elsewhere. */
async function failover(victim: string): Promise<number> {
  const at = cluster.nodes.findIndex((n) => n.id === victim);
  const other = urls[(at + 1) % urls.length]!;
  const name = `failover-${victim}-${Date.now()}`;
  await step(urls[at]!, name, 'let c = 0; c');
  for (let k = 0; k < 20; k++) await step(urls[at]!, name, 'c += 1; c');
  const t0 = performance.now();
  await cluster.kill(victim);
  const key = `fo-${name}`;
  for (;;) {
    const r = await step(other, name, 'c += 1; c', key).catch(() => ({ status: 0, json: null }));
    if (r.status === 200) {
      if (r.json.result !== 21) throw new Error(`failover lost state: ${JSON.stringify(r.json)}`);
      const ms = performance.now() - t0;
      await cluster.restart(victim);
      await cluster.waitReady();
      return ms;
    }
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function throughputContinuationFailover(): Promise<void> {
  if (WARMUP_SECONDS > 0) await throughput('warm-up', (s, k) => (s + k) % urls.length, WARMUP_SECONDS);
  await throughput('round-robin', (s, k) => (s + k) % urls.length, SECONDS, ROUNDS);
  await throughput('sticky', (s) => s % urls.length);
  const continued = [await continuation(1000), await continuation(1000), await continuation(1000)].sort((a, b) => a - b);
  console.log(`next step on another node of a 1,000-step session: ${continued.map((ms) => ms.toFixed(1)).join(', ')} ms (median ${continued[1]!.toFixed(1)})`);
  const leader = await cluster.leader();
  const follower = cluster.nodes.find((n) => n.id !== leader)!.id;
  console.log(`failover, follower ${follower} killed: next step on another node after ${(await failover(follower)).toFixed(0)} ms`);
  const newLeader = await cluster.leader();
  console.log(`failover, leader ${newLeader} killed: next step on another node after ${(await failover(newLeader)).toFixed(0)} ms`);
}

try {
  console.log(`3 nodes (child processes, loopback), ${SECONDS} s per run, --session-standbys ${STANDBYS}`);
  if (HEAVY_SECONDS > 0) await heavyContinuation(HEAVY_SECONDS, HEAVY_STEP_SECONDS);
  else await throughputContinuationFailover();
} finally {
  for (const c of connections.values()) c.close();
  await cluster.close();
}
