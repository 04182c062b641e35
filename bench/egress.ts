// Egress: the cost of one `fetch` from the sandbox against a loopback server, side by side with Node's
// own `fetch` to the same server, and the size a step's recorded answers add to its journal entry
// (the commands a session step with a 100 KB response proposes, binary and text).
// Run: node --no-node-snapshot bench/egress.ts
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Egress } from '../src/egress/index.ts';
import { domainModules } from '../src/executions/index.ts';
import { openReplica } from '../src/replication/index.ts';
import { SessionService } from '../src/sessions/index.ts';
import { IsolatePool, LiveSession, type Limits, type Step } from '../src/sandbox/index.ts';

const limits: Limits = { memoryMb: 64, cpuTimeoutMs: 10_000, wallTimeoutMs: 30_000, maxOutputBytes: 65536 };
const step = (code: string, i = 0): Step => ({ code, language: 'js', seed: `s${i}`, clock: 1_700_000_000_000 + i });

const binary = randomBytes(100_000);
const text = Buffer.from(JSON.stringify({ items: Array.from({ length: 2600 }, (_, i) => ({ id: i, name: `item ${i}`, ok: i % 2 === 0 })) }).slice(0, 100_000));
const server = createServer((req, res) => {
  if (req.url === '/binary') res.end(binary);
  else if (req.url === '/text') res.end(text);
  else res.end('{"ok":true}');
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const egress = new Egress({ allow: [origin], inject: [], timeoutMs: 30_000, maxResponseBytes: 2 << 20, maxRecordedBytes: 8 << 20, maxConcurrent: 16, maxRequests: 100_000, peers: [] });
const performer = egress.performer({ subject: null, scopes: [] });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function latencies(label: string, n: number, once: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 100; i++) await once(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const p50 = percentile(ms, 0.5);
  console.log(`${label.padEnd(58)} p50 ${p50.toFixed(3).padStart(7)} ms  p95 ${percentile(ms, 0.95).toFixed(3).padStart(7)} ms`);
  return p50;
}

const N = Number(process.env.BENCH_N ?? 1000);
const nodeFetch = await latencies("Node's fetch (undici global agent, keep-alive)", N, async () => (await fetch(origin)).text());

// One fetch inside a step that makes many: the channel's cost without the run's own.
const perStep = 200;
const session = await LiveSession.create(64);
const inStep: number[] = [];
for (let round = 0; round < 6; round++) {
  const t0 = performance.now();
  const out = await session.run(step(`for (let i = 0; i < ${perStep}; i++) await (await fetch(${JSON.stringify(origin)})).text()`, round), limits, undefined, performer);
  if (out.status !== 'completed') throw new Error(JSON.stringify(out.error));
  if (round > 0) inStep.push((performance.now() - t0) / perStep);
}
inStep.sort((a, b) => a - b);
console.log(`${'sandbox fetch, one of 200 in a session step (median round)'.padEnd(58)} mean ${percentile(inStep, 0.5).toFixed(3).padStart(6)} ms  (${(percentile(inStep, 0.5) / nodeFetch).toFixed(2)}× Node's p50)`);

const pool = new IsolatePool({ maxIsolates: 1 });
await pool.prewarm(64, 1);
const bare = await latencies('stateless run of `1 + 1` (no fetch)', N, () => pool.run(step('1 + 1'), limits));
const oneFetch = await latencies('stateless run with one fetch', N, () => pool.run(step(`await (await fetch(${JSON.stringify(origin)})).text()`), limits, undefined, performer));
console.log(`${'  the fetch in it (difference of the p50s)'.padEnd(58)} ${(oneFetch - bare).toFixed(3).padStart(7)} ms  (${((oneFetch - bare) / nodeFetch).toFixed(2)}× Node's p50)`);

// The commit of a session step: every command it proposes (the claim, then the step with its
// recorded answers), as the bytes that go into the Raft log, on a single-node replica.
const dir = await mkdtemp(join(tmpdir(), 'raftbox-bench-egress-'));
const replica = await openReplica({ nodeId: 'n1', peers: {}, dataDir: dir, modules: domainModules() });
const proposed: Array<{ type: string; bytes: number }> = [];
const measured = new Proxy(replica.commandLog, {
  get(target, key) {
    if (key === 'propose') {
      return (cmd: { type: string }) => {
        proposed.push({ type: cmd.type, bytes: Buffer.byteLength(JSON.stringify(cmd)) });
        return target.propose(cmd as never);
      };
    }
    const value = Reflect.get(target, key) as unknown;
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
const sessions = new SessionService(replica.state, measured, { liveSessions: { maxCount: 8, maxMemoryMb: 1024 }, nodeId: 'n1' });
const stepOf = (code: string, name: string) => ({ code, language: 'js' as const, session: name, heap: null, subject: null, limits, memoryExplicit: false });
for (const [label, code] of [
  ['no fetch', 'globalThis.x = 1'],
  ['a 100 KB binary response', `globalThis.x = (await (await fetch(${JSON.stringify(`${origin}/binary`)})).arrayBuffer()).byteLength`],
  ['a 100 KB text (JSON) response', `globalThis.x = (await (await fetch(${JSON.stringify(`${origin}/text`)})).text()).length`],
] as const) {
  proposed.length = 0;
  const tried = await sessions.step(stepOf(code, `s-${label.length}`), undefined, performer);
  if (tried.outcome.status !== 'completed') throw new Error(JSON.stringify(tried.outcome.error));
  const parts = proposed.map((p) => `${p.type} ${p.bytes.toLocaleString('en')} B`).join(' + ');
  console.log(`${`commit of a session step with ${label}`.padEnd(58)} ${parts}`);
}
sessions.close();
await replica.close();
await rm(dir, { recursive: true, force: true });

session.dispose();
pool.close();
await egress.close();
server.close();
