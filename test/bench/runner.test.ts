// The load-test runner's pure parts: a connection's iterations (no network: answers are fed by hand),
// the rate split over connections, and the result file k6 and the runner share. No timing assertions.
import { describe, expect, it } from 'vitest';
import { summarize, trend, resultFileName, type IterationSample, type RunRecord } from '../../bench/runner/aggregate.ts';
import { connectionCount, share } from '../../bench/runner/load.ts';
import { Connection, type ScenarioOptions, type Tally } from '../../bench/runner/scenario.ts';
// @ts-expect-error plain ESM script without type declarations
import { renderTable } from '../../bench/k6/report.js';

const sample = (over: Partial<IterationSample> = {}): IterationSample => ({ latencyMs: 10, serverMs: 1, right: true, diverged: false, ...over });

function record(samples: IterationSample[], over: Partial<RunRecord> = {}): RunRecord {
  return {
    topology: 'cluster',
    mode: 'stateful',
    flow: 'wait',
    targetRate: 100,
    durationS: 2,
    targetUrls: ['http://127.0.0.1:8080'],
    connections: 10,
    samples,
    httpResponses: samples.length + 1,
    p95LimitMs: 1000,
    ...over,
  };
}

describe('bench runner: results', () => {
  it('summarizes a run into the raftbox-bench/1 shape', () => {
    const samples = [...Array.from({ length: 197 }, (_, i) => sample({ latencyMs: i + 1, serverMs: 2 })), sample({ right: false, serverMs: null, latencyMs: 500 })];
    expect(summarize(record(samples))).toEqual({
      schema: 'raftbox-bench/1',
      tool: 'autocannon',
      topology: 'cluster',
      mode: 'stateful',
      flow: 'wait',
      target_rate: 100,
      duration_s: 2,
      target_urls: ['http://127.0.0.1:8080'],
      iterations: 198,
      iter_per_s: 99,
      http_req_per_s: 99.5,
      latency_ms: { avg: 101.03, p50: 99, p95: 189, p99: 197, max: 500 },
      server_exec_ms: { avg: 2, p50: 2, p95: 2, p99: 2, max: 2 },
      success_rate: 0.9949,
      dropped: 2,
      max_vus: 10,
      session_divergence: 0,
      thresholds_ok: true,
    });
  });

  it('fails the thresholds on success under 99%, a slow p95 or a wrong session count', () => {
    expect(summarize(record([sample(), sample({ right: false })])).thresholds_ok).toBe(false);
    expect(summarize(record([sample({ latencyMs: 1500 })])).thresholds_ok).toBe(false);
    const diverged = summarize(record([sample(), sample({ right: false, diverged: true })], { connections: 1 }));
    expect(diverged.session_divergence).toBe(1);
    expect(diverged.thresholds_ok).toBe(false);
  });

  it('reports an empty run as such, never as a success', () => {
    const empty = summarize(record([], { httpResponses: 0 }));
    expect(empty).toMatchObject({ iterations: 0, latency_ms: null, server_exec_ms: null, success_rate: 0, dropped: 200, thresholds_ok: false });
  });

  it('takes nearest-rank percentiles', () => {
    expect(trend([5, 1, 4, 2, 3])).toEqual({ avg: 3, p50: 3, p95: 5, p99: 5, max: 5 });
    expect(trend([])).toBeNull();
  });

  it("renders in report.js's table and names its file like k6's", () => {
    const result = summarize(record([sample()], { topology: 'single', mode: 'stateless', targetRate: 1, durationS: 1, connections: 1 }));
    expect(renderTable([result]).split('\n')[2]).toBe('| single-stateless | wait | 1/s | 1.0 | 2.0 | 10.00 | 10.00 | 10.00 | 1.00 | 1.00 | 100.00% | 0 | 1 |');
    expect(resultFileName(result)).toBe('autocannon-single-stateless-wait-1.json');
  });
});

describe('bench runner: arrival rate', () => {
  it('splits the rate over the connections in whole requests per second', () => {
    expect(Array.from({ length: 3 }, (_, i) => share(10, 3, i))).toEqual([4, 3, 3]);
    expect(Array.from({ length: 20 }, (_, i) => share(200, 20, i)).reduce((a, b) => a + b)).toBe(200);
  });

  it('never opens a connection with no share (autocannon would read 0 as unlimited)', () => {
    expect(connectionCount(5, 10)).toBe(5);
    expect(connectionCount(100, 10)).toBe(10);
  });
});

describe('bench runner: a connection', () => {
  const options = (over: Partial<ScenarioOptions> = {}): ScenarioOptions => ({ mode: 'stateful', flow: 'wait', waitMs: 5000, deadlineMs: 30_000, runId: 'r', ...over });
  const connection = (over: Partial<ScenarioOptions> = {}) => {
    const tally: Tally = { samples: [], httpResponses: 0 };
    return { tally, c: new Connection(options(over), 7, tally, Number.POSITIVE_INFINITY) };
  };
  const finished = (result: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ execution_id: 'e1', status: 'completed', result, duration_ms: 1.5, ...extra });

  it('appends steps to its own session and checks the count', () => {
    const { tally, c } = connection();
    const first = c.next();
    expect(first).toMatchObject({ method: 'POST', path: '/api/exec?wait=5000' });
    expect(JSON.parse(first.body!)).toEqual({ code: 'var n = (globalThis.n ?? 0) + 1; n', session: 'ac-r-c7-1' });
    c.onResponse(200, finished(1));
    expect(JSON.parse(c.next().body!).session).toBe('ac-r-c7-1');
    c.onResponse(200, finished(2));
    expect(tally.samples.map((s) => [s.right, s.serverMs])).toEqual([
      [true, 1.5],
      [true, 1.5],
    ]);
  });

  it('counts a wrong count as divergence and goes on with a fresh session', () => {
    const { tally, c } = connection();
    c.next();
    c.onResponse(200, finished(5));
    expect(tally.samples[0]).toMatchObject({ right: false, diverged: true });
    expect(JSON.parse(c.next().body!).session).toBe('ac-r-c7-2');
  });

  it('long-polls an execution the submit did not wait out', () => {
    const { tally, c } = connection({ mode: 'stateless' });
    expect(JSON.parse(c.next().body!)).toEqual({ code: '1 + 1' });
    c.onResponse(202, JSON.stringify({ execution_id: 'e 1', status: 'running' }));
    expect(c.next()).toEqual({ method: 'GET', path: '/api/executions/e%201?wait=5000', headers: {} });
    c.onResponse(200, finished(2));
    expect(tally).toMatchObject({ httpResponses: 2, samples: [{ right: true }] });
  });

  it('polls without waiting in the poll flow, as MCP-V8 does', () => {
    const { c } = connection({ mode: 'stateless', flow: 'poll' });
    expect(c.next().path).toBe('/api/exec');
    c.onResponse(202, JSON.stringify({ execution_id: 'e1', status: 'queued' }));
    expect(c.next().path).toBe('/api/executions/e1');
  });

  it('reads run_js results from MCP structuredContent', () => {
    const { tally, c } = connection({ mode: 'stateless', flow: 'mcp' });
    const req = c.next();
    expect(req).toMatchObject({ method: 'POST', path: '/mcp' });
    expect(JSON.parse(req.body!).params).toEqual({ name: 'run_js', arguments: { code: '1 + 1' } });
    c.onResponse(200, JSON.stringify({ jsonrpc: '2.0', id: 1, result: { structuredContent: JSON.parse(finished(2)) } }));
    expect(tally.samples[0]!.right).toBe(true);
  });

  it('fails an answer that is not HTTP 200 with the right value, and a request that got no answer', () => {
    const { tally, c } = connection();
    c.next();
    c.onResponse(503, JSON.stringify({ error: 'unavailable' }));
    c.next();
    c.onResponse(200, finished(null));
    c.next(); // timed out: autocannon asks for the next request without an answer
    c.next();
    c.onResponse(202, finished(1));
    expect(tally.samples.map((s) => s.right)).toEqual([false, false, false, false]);
    // A completed step with the wrong value is a divergence; a lost answer leaves the step unknown, not wrong.
    expect(tally.samples.map((s) => s.diverged)).toEqual([false, true, false, false]);
  });
});
