// Warm-session steps/s through SessionService (each step committed) and replay time of a 100-step session.
// Run: node --no-node-snapshot bench/sessions.ts
// Single node: the command log is a real single-node RaftNode (synced log) over the state; see bench/RESULTS.md.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDomain, domainModules } from '../src/executions/index.ts';
import { IsolatePool, LiveSession, type Limits } from '../src/sandbox/index.ts';
import { SessionService, type StepRequest } from '../src/sessions/index.ts';
import { openReplica } from '../src/replication/index.ts';

const LIMITS: Limits = { memoryMb: 64, cpuTimeoutMs: 5_000, wallTimeoutMs: 5_000, maxOutputBytes: 65_536 };
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

const dir = await mkdtemp(join(tmpdir(), 'raftbox-bench-sessions-'));
const { state, commandLog: log, close: closeLog } = await openReplica({ nodeId: 'n1', peers: {}, dataDir: dir, modules: domainModules() });
const pool = new IsolatePool();
const domain = await createDomain({ state, log, pool });
const liveSessions = { maxCount: 256, maxMemoryMb: 64 * 256 };

const request = (session: string, code: string): StepRequest => ({
  code,
  language: 'js',
  session,
  heap: null,
  subject: null,
  limits: LIMITS,
  memoryExplicit: false,
});

type StepFn = (session: string, code: string) => Promise<unknown>;

const throughSessionService: StepFn = (session, code) => domain.sessions.step(request(session, code));
// The path of an MCP/REST call minus HTTP: validation, admission, execution record in the step's commit.
const throughExecutionService: StepFn = (session, code) => domain.executions.run({ code, language: 'js', session }, { waitMs: 10_000 });

/** Steps/s with `sessions` sessions stepping concurrently, each sequentially (a step waits for the previous). */
async function stepsPerSecond(step: StepFn, sessions: number, label: string): Promise<void> {
  const names = Array.from({ length: sessions }, (_, i) => `${label}-${sessions}-${i}`);
  await Promise.all(names.map((n) => step(n, 'let counter = 0; const items = []')));
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    names.map(async (n) => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await step(n, 'counter += 1; items.push(counter); counter');
        latencies.push(performance.now() - t0);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.floor((latencies.length - 1) * p)]!.toFixed(2);
  console.log(
    `${label}: ${sessions} session(s): ${(latencies.length / SECONDS).toFixed(0)} steps/s, ` +
      `p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms, p99 ${pct(0.99)} ms`,
  );
}

for (const sessions of [1, 8]) {
  await stepsPerSecond(throughSessionService, sessions, 'SessionService.step');
  await stepsPerSecond(throughExecutionService, sessions, 'ExecutionService.run');
}

// A 100-step session, then: (a) the journal replayed into a fresh isolate, (b) the first step on a
// node that has never seen the session (isolate creation + replay + run + commit).
const builder = new SessionService(state, log, { liveSessions });
await builder.step(request('replay', 'let acc = []; function f(i) { return { i, sq: i * i, r: Math.random() } }'));
for (let i = 1; i < 100; i++) await builder.step(request('replay', `acc.push(f(${i})); const c${i} = acc.length`));
builder.close();
const head = state.get('session', 'name//replay') as { head: string };
const steps: Array<{ code: string; language: 'js'; seed: string; clock: number }> = [];
for (let at: string | null = head.head; at; ) {
  const o = state.get('session', `heap/${at}`) as { parent: string | null; code: string; seed: string; clock: number };
  steps.unshift({ code: o.code, language: 'js', seed: o.seed, clock: o.clock });
  at = o.parent;
}
const replays: number[] = [];
const firsts: number[] = [];
for (let i = 0; i < 20; i++) {
  const live = await LiveSession.create(64);
  const t0 = performance.now();
  await live.replay(steps);
  replays.push(performance.now() - t0);
  live.dispose();
  const fresh = new SessionService(state, log, { liveSessions });
  const t1 = performance.now();
  await fresh.step(request('replay', 'acc.length'));
  firsts.push(performance.now() - t1);
  fresh.close();
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
console.log(`replay of a 100-step session into a fresh isolate: median ${median(replays)} ms (20 runs)`);
console.log(`first step on a node without the session (create + replay 100 + run + commit): median ${median(firsts)} ms`);

await domain.close();
pool.close();
await closeLog();
await rm(dir, { recursive: true, force: true });
