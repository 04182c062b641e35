/**
 * Low-load latency: what one agent feels when it calls sequentially (each call waits for the last
 * answer). One client, one keep-alive connection per target, `--calls` sequential calls per row after
 * a warm-up, p50 and p95. Single node: health, a stateless run over REST (answered, and the 202 of an
 * async submit), over MCP, and a session step. Three nodes: a session step and a stateless run on the
 * leader and on a follower (no load balancer: the node is the point).
 *
 * Each topology is warmed first (`--warmup` calls of every kind it measures, spread over the nodes
 * it measures): a node just started runs its request and Raft paths unoptimized for its first ~1,000
 * calls, and a session step on a just-started leader takes ~1.5× its steady time (bench/RESULTS.md).
 *
 *   node --no-node-snapshot bench/latency.ts [--calls 300] [--warmup 1200]
 */
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startCluster, startSingle, type Topology } from './runner/servers.ts';
import { targets } from './runner/http-targets.ts';
import { waitFor } from '../test/support/index.ts';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '300' }, warmup: { type: 'string', default: '1200' } } });
const CALLS = Number(values.calls);
const WARMUP_CALLS = Number(values.warmup);
/** Calls of each row before its measured ones: its connection and its session's first steps. */
const WARMUP = 30;

interface Call {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whether the answer is the right one: a latency of a wrong answer is not counted as a success. */
  ok: (status: number, body: string) => boolean;
}

const json = { 'content-type': 'application/json' };
const [mcpRunJs, restWait] = targets;
const CALLS_OF = {
  health: { method: 'GET', path: '/healthz', ok: (s) => s === 200 },
  restWait: { method: 'POST', path: restWait!.path, headers: restWait!.headers, body: restWait!.body, ok: (s, b) => s === 200 && restWait!.ok(b) },
  restAsync: { method: 'POST', path: '/api/exec', headers: json, body: JSON.stringify({ code: '1+1' }), ok: (s) => s === 202 },
  mcp: { method: 'POST', path: mcpRunJs!.path, headers: mcpRunJs!.headers, body: mcpRunJs!.body, ok: (s, b) => s === 200 && mcpRunJs!.ok(b) },
} satisfies Record<string, Call>;

/** A step of `session`: a counter kept in its state, so each answer is checked against the count so far. */
function sessionSteps(session: string): () => Call {
  let steps = 0;
  return () => {
    const expected = ++steps;
    const body = JSON.stringify({ code: 'globalThis.n = (globalThis.n ?? 0) + 1', session });
    return { method: 'POST', path: '/api/exec?wait=5000', headers: json, body, ok: (s, b) => s === 200 && JSON.parse(b).result === expected };
  };
}

async function measure(url: string, next: () => Call, calls = CALLS): Promise<{ p50: number; p95: number; wrong: number }> {
  const pool = new Pool(url, { connections: 1 });
  const ms: number[] = [];
  let wrong = 0;
  try {
    for (let i = 0; i < WARMUP + calls; i++) {
      const call = next();
      const t0 = performance.now();
      const res = await pool.request({ method: call.method, path: call.path, headers: call.headers, body: call.body });
      const text = await res.body.text();
      const took = performance.now() - t0;
      if (!call.ok(res.statusCode, text)) wrong++;
      if (i >= WARMUP) ms.push(took);
    }
  } finally {
    await pool.close();
  }
  ms.sort((a, b) => a - b);
  const pct = (p: number) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))]!;
  return { p50: pct(50), p95: pct(95), wrong };
}

/** Brings the nodes' code to its steady state: `WARMUP_CALLS` session steps and stateless runs on each of `urls`, in turn, unmeasured. */
async function warmUp(label: string, urls: string[]): Promise<void> {
  for (const [i, url] of urls.entries()) {
    const steps = sessionSteps(`warmup-${i}`);
    let k = 0;
    const r = await measure(url, () => (k++ % 2 === 0 ? steps() : CALLS_OF.restWait), WARMUP_CALLS);
    if (r.wrong > 0) throw new Error(`warm-up of ${label} had ${r.wrong} wrong answers`);
  }
}

const rows: string[] = [];
async function row(label: string, url: string, next: () => Call): Promise<void> {
  const r = await measure(url, next);
  rows.push(`| ${label} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.wrong} |`);
  process.stderr.write(`[latency] ${label}: p50 ${r.p50.toFixed(2)} ms, p95 ${r.p95.toFixed(2)} ms, wrong ${r.wrong}\n`);
}

/**
 * The node that leads, from a node's /cluster/status. A node serves stateless runs before it has
 * heard from the first leader (their records replicate after the answer), so it may not know it yet.
 */
function leaderOf(topology: Topology): Promise<string> {
  return waitFor(`a leader among ${topology.nodes.join(', ')}`, async () => {
    const status = (await (await fetch(`${topology.nodes[0]}/cluster/status`)).json()) as { leader: { url: string } | null };
    return topology.nodes.find((n) => n === status.leader?.url);
  }, 5_000);
}

const single = await startSingle();
try {
  const url = single.nodes[0]!;
  await warmUp('single', [url]);
  await row('single: GET /healthz (the client floor)', url, () => CALLS_OF.health);
  await row('single: stateless REST `POST /api/exec?wait` `1+1`', url, () => CALLS_OF.restWait);
  await row('single: stateless REST async submit (202)', url, () => CALLS_OF.restAsync);
  await row('single: stateless MCP `run_js` `1+1`', url, () => CALLS_OF.mcp);
  await row('single: a session step', url, sessionSteps('latency-single'));
} finally {
  await single.stop();
}

const cluster = await startCluster();
try {
  const leader = await leaderOf(cluster);
  const follower = cluster.nodes.find((n) => n !== leader)!;
  await warmUp('cluster', [leader, follower]);
  await row('cluster: a session step on the leader', leader, sessionSteps('latency-leader'));
  await row('cluster: a session step on a follower', follower, sessionSteps('latency-follower'));
  await row('cluster: stateless REST `?wait` on the leader', leader, () => CALLS_OF.restWait);
  await row('cluster: stateless REST `?wait` on a follower', follower, () => CALLS_OF.restWait);
  await row('cluster: stateless REST async submit (202) on the leader', leader, () => CALLS_OF.restAsync);
} finally {
  await cluster.stop();
}

console.log(`${CALLS} sequential calls per row (after ${WARMUP} warm-up calls; each topology warmed first with ${WARMUP_CALLS} calls on each node measured), one keep-alive connection\n`);
console.log('| call | p50 ms | p95 ms | wrong |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(r);
