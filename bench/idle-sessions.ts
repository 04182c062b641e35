// Many idle sessions on one node: what holding them warm costs, and whether a step after all of them
// finds its session still warm (no rebuild from the journal on its path).
// Run: node --no-node-snapshot bench/idle-sessions.ts
//   BENCH_SESSIONS=1000,5000,10000   session counts, reached in turn on one node (cumulative)
//   BENCH_WARM_MB=<n>                the node's --max-live-sessions-memory-mb (default: the node's own
//                                    default, a quarter of the machine's memory)
//   BENCH_SESSIONS_PER_ISOLATE=<n>   the node's --sessions-per-isolate (default 1: an isolate each)
//   BENCH_HEAVY=<n>                  first, one session whose step counts to n million (a few hundred
//                                    ms of CPU per 1,000); after the idle ones, its next step is timed:
//                                    kept warm, or rebuilt (that computation again)
// Each new session gets one step (`let v = <i>`); at each count the node's RSS and warm-session count
// are read from /metrics; at the end every session is stepped again (`v + 1`, checked), and the
// step-path replays the node counted in between are the sessions it had to rebuild.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonConnection } from './runner/json-connection.ts';
import { freePort, startChild, stopChild, waitFor } from '../test/support/index.ts';

const COUNTS = (process.env.BENCH_SESSIONS ?? '1000,5000,10000').split(',').map(Number);
const WARM_MB = process.env.BENCH_WARM_MB;
const CONNECTIONS = 8;
const HEAVY = Number(process.env.BENCH_HEAVY ?? 0);
const PER_ISOLATE = process.env.BENCH_SESSIONS_PER_ISOLATE;

const dataDir = await mkdtemp(join(tmpdir(), 'raftbox-bench-idle-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const node = startChild(
  ['--no-node-snapshot', 'src/cli/main.ts', 'serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'warn', '--max-live-sessions', '100000', ...(WARM_MB ? ['--max-live-sessions-memory-mb', WARM_MB] : []), ...(PER_ISOLATE ? ['--sessions-per-isolate', PER_ISOLATE] : [])],
);

async function metrics(): Promise<(name: string) => number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return (name) => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)`, 'm').exec(text)?.[1] ?? 0);
}

/** Runs `step(i)` for i in [from, to) over CONNECTIONS keep-alive connections. */
async function each(from: number, to: number, step: (conn: JsonConnection, i: number) => Promise<void>): Promise<void> {
  let next = from;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      const conn = await JsonConnection.open(url);
      try {
        while (next < to) await step(conn, next++);
      } finally {
        conn.close();
      }
    }),
  );
}

const run = (conn: JsonConnection, i: number, code: string) => conn.post('/api/exec?wait=30000', { code, session: `idle-${i}`, language: 'js' });

try {
  await waitFor('the node ready', async () => (await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false)), 60_000);
  console.log(`one node, warm budget ${WARM_MB ? `${WARM_MB} MB` : 'the default'}, ${PER_ISOLATE ?? 1} session(s) to an isolate, ${CONNECTIONS} connections`);
  console.log('| sessions | node RSS | RSS per session | warm sessions | time to create the last batch |');
  console.log('| --- | --- | --- | --- | --- |');
  const base = (await metrics())('process_resident_memory_bytes');
  const heavy = await JsonConnection.open(url);
  if (HEAVY > 0) {
    const t = performance.now();
    const r = await heavy.post('/api/exec?wait=60000', { code: `let spins = 0; while (spins < ${HEAVY}e6) spins++; 1`, session: 'heavy', language: 'js' });
    if (r.status !== 200) throw new Error(`heavy: ${r.status} ${JSON.stringify(r.json)}`);
    console.log(`the heavy session's first step: ${(performance.now() - t).toFixed(0)} ms`);
  }
  let made = 0;
  for (const count of COUNTS) {
    const t0 = performance.now();
    await each(made, count, async (conn, i) => {
      const r = await run(conn, i, `let v = ${i}; v`);
      if (r.status !== 200 || r.json.result !== i) throw new Error(`session ${i}: ${r.status} ${JSON.stringify(r.json)}`);
    });
    const seconds = (performance.now() - t0) / 1000;
    made = count;
    const m = await metrics();
    const rss = m('process_resident_memory_bytes');
    console.log(`| ${count.toLocaleString('en')} | ${(rss / 2 ** 20).toFixed(0)} MB | ${((rss - base) / count / 2 ** 20).toFixed(2)} MB | ${m('raftbox_live_sessions')} | ${seconds.toFixed(1)} s |`);
  }
  if (HEAVY > 0) {
    const before = (await metrics())('raftbox_session_replay_seconds_count{path="request"}');
    const t = performance.now();
    const r = await heavy.post('/api/exec?wait=60000', { code: 'spins > 0', session: 'heavy', language: 'js' });
    if (r.status !== 200 || r.json.result !== true) throw new Error(`heavy again: ${r.status} ${JSON.stringify(r.json)}`);
    const rebuilt = (await metrics())('raftbox_session_replay_seconds_count{path="request"}') > before;
    console.log(`the heavy session stepped again after them: ${(performance.now() - t).toFixed(1)} ms, ${rebuilt ? 'rebuilt' : 'still warm'}`);
  }
  heavy.close();
  const replays = (await metrics())('raftbox_session_replay_seconds_count{path="request"}');
  const t0 = performance.now();
  await each(0, made, async (conn, i) => {
    const r = await run(conn, i, 'v + 1');
    if (r.status !== 200 || r.json.result !== i + 1) throw new Error(`session ${i} again: ${r.status} ${JSON.stringify(r.json)}`);
  });
  const rebuilt = (await metrics())('raftbox_session_replay_seconds_count{path="request"}') - replays;
  console.log(`every session stepped again (checked): ${((performance.now() - t0) / 1000).toFixed(1)} s, ${rebuilt} of ${made.toLocaleString('en')} rebuilt from the journal on the step's path`);
} catch (err) {
  console.error(`node exit: ${node.child.exitCode ?? node.child.signalCode}; its last output:\n${node.output()}`);
  throw err;
} finally {
  await stopChild(node.child, 'SIGTERM');
  await rm(dataDir, { recursive: true, force: true });
}
