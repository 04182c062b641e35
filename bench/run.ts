/**
 * Load test runner: the scenarios of bench/k6/load-test.js (single node and a local three-node cluster
 * behind nginx × stateless|stateful × target rates) with autocannon instead of k6, against servers it
 * starts itself on loopback. Writes one `raftbox-bench/1` result file per run and the report (Markdown with
 * the P95 chart, and an SVG) through bench/k6/report.js, into a fresh bench/out/autocannon-<time>/.
 *
 *   npm run bench [-- --quick] [--flow wait|poll|mcp] [--rates 100,200] [--duration 30]
 *                 [--topologies single,cluster] [--modes stateless,stateful] [--connections N] [--p95-ms 1000]
 *                 [--lb-balance session|request|connection]   (how nginx spreads the cluster's requests)
 *
 * --quick: the lowest rate only, 5 s per run, both topologies and modes (under 2 minutes). Exits 1 when any
 * run at the lowest rate has a success rate under 99%.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SUCCESS_THRESHOLD, resultFileName, summarize, type BenchResult } from './runner/aggregate.ts';
import { connectionCount, runLoad } from './runner/load.ts';
import type { Flow, Mode } from './runner/scenario.ts';
import { smoke, startCluster, startSingle, type Topology } from './runner/servers.ts';
import { LB_BALANCES } from '../cluster/nginx-site.ts';

// report.js is plain JavaScript (k6 users run it with bare node); this is the part of it used here.
interface ReportModule {
  writeReport(dir: string, opts?: { title?: string }): string;
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    flow: { type: 'string', default: 'wait' },
    rates: { type: 'string' },
    duration: { type: 'string' },
    topologies: { type: 'string', default: 'single,cluster' },
    modes: { type: 'string', default: 'stateless,stateful' },
    connections: { type: 'string' },
    'p95-ms': { type: 'string', default: '1000' },
    'lb-balance': { type: 'string', default: 'session' },
  },
});

function list<T extends string>(name: string, raw: string, allowed: readonly T[]): T[] {
  const items = raw.split(',').map((s) => s.trim());
  for (const item of items) if (!allowed.includes(item as T)) throw new Error(`--${name}: ${item} is not one of ${allowed.join('|')}`);
  return items as T[];
}

function positive(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} expects a positive integer, got ${raw}`);
  return n;
}

const flow = list<Flow>('flow', values.flow!, ['wait', 'poll', 'mcp'])[0]!;
const rates = (values.rates ?? (values.quick ? '100' : '100,200,500,1000')).split(',').map((r) => positive('rates', r));
const durationS = positive('duration', values.duration ?? (values.quick ? '5' : '30'));
const topologies = list('topologies', values.topologies!, ['single', 'cluster'] as const);
const modes = list<Mode>('modes', values.modes!, ['stateless', 'stateful']);
const p95LimitMs = positive('p95-ms', values['p95-ms']!);
const lbBalance = list('lb-balance', values['lb-balance']!, LB_BALANCES)[0]!;
// k6's pre-allocated VUs (rate/10, 10–500): enough for the target while latency stays under 100 ms, and
// in stateful mode as many sessions as k6 would open.
const connectionsFor = (rate: number) => (values.connections ? positive('connections', values.connections) : Math.min(Math.max(Math.ceil(rate / 10), 10), 500));

const outDir = fileURLToPath(new URL(`./out/autocannon-${new Date().toISOString().replace(/[:.]/g, '-')}/`, import.meta.url));
mkdirSync(outDir, { recursive: true });
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

async function settle(urls: string[]): Promise<void> {
  // Let the previous run's queued executions drain before the next run starts counting.
  await new Promise((r) => setTimeout(r, 2000));
  await Promise.all(urls.map(smoke));
}

async function runTopology(topology: Topology): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  log(`${topology.name}: ${topology.urls.join(', ')} (${topology.routing})`);
  for (const mode of modes) {
    for (const rate of rates) {
      const connections = connectionCount(rate, connectionsFor(rate));
      const runId = `${Date.now().toString(36)}-${mode}-${rate}`;
      const scenario = { mode, flow, waitMs: 5000, deadlineMs: 30_000, runId };
      const tally = await runLoad({ urls: topology.urls, rate, durationS, connections, scenario });
      const result = summarize({ topology: topology.name, mode, flow, targetRate: rate, durationS, targetUrls: topology.urls, connections, p95LimitMs, ...tally });
      writeFileSync(join(outDir, resultFileName(result)), `${JSON.stringify(result, null, 2)}\n`);
      const p95 = result.latency_ms?.p95.toFixed(1) ?? 'n/a';
      log(`${topology.name}-${mode} @ ${rate}/s: ${result.iter_per_s} iter/s, p95 ${p95} ms, success ${(result.success_rate * 100).toFixed(2)}%, dropped ${result.dropped}`);
      results.push(result);
      await settle(topology.urls);
    }
  }
  return results;
}

if (flow === 'poll') {
  log('flow poll: each poll spends a request of the connection\'s per-second budget, so latency includes waits for the next second and iterations fall short of the target; k6 reproduces this flow faithfully');
}
const started = Date.now();
const results: BenchResult[] = [];
for (const name of topologies) {
  const topology = await (name === 'single' ? startSingle() : startCluster(lbBalance));
  try {
    results.push(...(await runTopology(topology)));
  } finally {
    await topology.stop();
  }
}

const report = (await import(new URL('./k6/report.js', import.meta.url).href)) as ReportModule;
process.stdout.write(report.writeReport(outDir, { title: `raftbox load test (autocannon, flow ${flow}, ${durationS} s per run)` }));
log(`report: ${join(outDir, 'report.md')}, chart: ${join(outDir, 'p95.svg')}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`);

// The gate CI relies on: at the lowest rate every topology and mode must keep up with the right answers.
const lowest = Math.min(...rates);
const failing = results.filter((r) => r.target_rate === lowest && r.success_rate < SUCCESS_THRESHOLD);
for (const r of failing) log(`FAIL ${r.topology}-${r.mode} @ ${r.target_rate}/s: success ${(r.success_rate * 100).toFixed(2)}% < ${SUCCESS_THRESHOLD * 100}%`);
process.exitCode = failing.length > 0 ? 1 : 0;
