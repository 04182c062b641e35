// The pure half of the runner: what one run observed → the result file shared with k6 (`raftbox-bench/1`,
// bench/k6/README.md), so bench/k6/report.js renders both tools' runs the same way.

/** One finished iteration: a `run_js` from submit to the finished (or failed) answer. */
export interface IterationSample {
  /** Client-side, from writing the submit request to reading the final answer. */
  latencyMs: number;
  /** The server's `duration_ms`, when the answer carried one. */
  serverMs: number | null;
  /** HTTP 200 with the expected value: 2, or the session's next count. */
  right: boolean;
  /** Stateful: the execution completed but returned the wrong count (a lost, duplicated or forked step). */
  diverged: boolean;
}

export interface RunRecord {
  topology: string;
  mode: 'stateless' | 'stateful';
  flow: 'wait' | 'poll' | 'mcp';
  targetRate: number;
  /** The load window every connection ran for; the target is targetRate × durationS iterations. */
  durationS: number;
  targetUrls: string[];
  /** Fixed for the run: autocannon opens them all up front (k6 grows VUs on demand up to maxVUs). */
  connections: number;
  samples: IterationSample[];
  httpResponses: number;
  /** Threshold on client-side p95, as k6's P95_MS. */
  p95LimitMs: number;
}

export interface Trend {
  avg: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface BenchResult {
  schema: 'raftbox-bench/1';
  tool: 'autocannon';
  topology: string;
  mode: string;
  flow: string;
  target_rate: number;
  duration_s: number;
  target_urls: string[];
  iterations: number;
  iter_per_s: number;
  http_req_per_s: number;
  latency_ms: Trend | null;
  server_exec_ms: Trend | null;
  success_rate: number;
  dropped: number;
  max_vus: number;
  session_divergence: number;
  thresholds_ok: boolean;
}

/** Nearest-rank percentiles over a sorted copy; null for no values (the report prints n/a). */
export function trend(values: readonly number[]): Trend | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  const round = (v: number) => Math.round(v * 100) / 100;
  return {
    avg: round(sorted.reduce((sum, v) => sum + v, 0) / sorted.length),
    p50: round(at(50)),
    p95: round(at(95)),
    p99: round(at(99)),
    max: round(sorted[sorted.length - 1]!),
  };
}

export const SUCCESS_THRESHOLD = 0.99;

export function summarize(run: RunRecord): BenchResult {
  const iterations = run.samples.length;
  const right = run.samples.filter((s) => s.right).length;
  const divergence = run.samples.filter((s) => s.diverged).length;
  const latency = trend(run.samples.map((s) => s.latencyMs));
  const serverTimes = run.samples.flatMap((s) => (s.serverMs === null ? [] : [s.serverMs]));
  const successRate = iterations === 0 ? 0 : right / iterations;
  const perSecond = (n: number) => Math.round((n / run.durationS) * 100) / 100;
  return {
    schema: 'raftbox-bench/1',
    tool: 'autocannon',
    topology: run.topology,
    mode: run.mode,
    flow: run.flow,
    target_rate: run.targetRate,
    duration_s: run.durationS,
    target_urls: run.targetUrls,
    iterations,
    iter_per_s: perSecond(iterations),
    http_req_per_s: perSecond(run.httpResponses),
    latency_ms: latency,
    server_exec_ms: trend(serverTimes),
    success_rate: Math.round(successRate * 10_000) / 10_000,
    // autocannon never refuses to start an iteration: under saturation each connection just starts its next
    // one late. What k6 would have dropped shows up as the iterations that never completed in the window.
    dropped: Math.max(0, Math.round(run.targetRate * run.durationS) - iterations),
    max_vus: run.connections,
    session_divergence: divergence,
    // k6's thresholds: success ≥ 99%, p95 under the limit, and no wrong session count.
    thresholds_ok: successRate >= SUCCESS_THRESHOLD && latency !== null && latency.p95 < run.p95LimitMs && divergence === 0,
  };
}

/** The file name k6's handleSummary uses, with the tool in front so both kinds can share bench/out. */
export function resultFileName(r: Pick<BenchResult, 'tool' | 'topology' | 'mode' | 'flow' | 'target_rate'>): string {
  return `${r.tool}-${r.topology}-${r.mode}-${r.flow}-${r.target_rate}.json`;
}
