import { describe, expect, it } from 'vitest';
import { iterate, loadScript, type FakeResponse, type Handler, type SentRequest } from './k6-harness.ts';

/**
 * An in-process stand-in for raftbox's REST and MCP surface, answering with the wire field names of
 * docs/architecture.md: `1 + 1` completes with 2; the stateful step increments a per-session counter.
 * `loseStepOf` drops the commit of a session's next step, as a lost Raft write would.
 */
function fakeRaftbox(opts: { pendingPolls?: number; sse?: boolean; doneOnSubmit?: boolean } = {}) {
  const sessions = new Map<string, number>();
  const executions = new Map<string, { execution: Record<string, unknown>; polls: number }>();
  const lost = new Set<string>();
  let next = 0;

  function run(args: { code: string; session?: string }): Record<string, unknown> {
    next += 1;
    let result: unknown;
    if (args.session === undefined) {
      result = args.code === '1 + 1' ? 2 : null;
    } else {
      const count = (sessions.get(args.session) ?? 0) + 1;
      if (lost.delete(args.session)) sessions.set(args.session, count - 1);
      else sessions.set(args.session, count);
      result = count;
    }
    return {
      execution_id: `ex${next}`,
      status: 'completed',
      result,
      result_text: JSON.stringify(result),
      console: [],
      error: null,
      heap: null,
      session: args.session ?? null,
      step: args.session === undefined ? null : sessions.get(args.session),
      duration_ms: 0.5,
    };
  }

  const json = (status: number, body: unknown): FakeResponse => ({ status, body: JSON.stringify(body) });

  const handler: Handler = (req: SentRequest) => {
    const { pathname, searchParams } = new URL(req.url);
    if (req.method === 'POST' && pathname === '/api/exec') {
      const execution = run(JSON.parse(String(req.body)));
      if (searchParams.has('wait') || opts.doneOnSubmit) return json(200, execution);
      executions.set(String(execution.execution_id), { execution, polls: 0 });
      return json(202, { execution_id: execution.execution_id }); // MCP-V8's answer: no status
    }
    const polled = /^\/api\/executions\/(.+)$/.exec(pathname);
    if (req.method === 'GET' && polled) {
      const entry = executions.get(decodeURIComponent(polled[1]!));
      if (!entry) return json(404, { error: 'not_found', message: 'no such execution' });
      entry.polls += 1;
      const pending = entry.polls <= (opts.pendingPolls ?? 0);
      return json(200, pending ? { ...entry.execution, status: 'running', result: null } : entry.execution);
    }
    if (req.method === 'POST' && pathname === '/mcp') {
      const rpc = JSON.parse(String(req.body));
      const execution = run(rpc.params.arguments);
      const answer = {
        jsonrpc: '2.0',
        id: rpc.id,
        result: { content: [{ type: 'text', text: JSON.stringify(execution) }], structuredContent: execution, isError: false },
      };
      if (!opts.sse) return json(200, answer);
      const progress = { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } };
      const body = `event: message\ndata: ${JSON.stringify(progress)}\n\nevent: message\ndata: ${JSON.stringify(answer)}\n\n`;
      return { status: 200, body, headers: { 'Content-Type': 'text/event-stream' } };
    }
    return json(404, { error: 'not_found', message: `${req.method} ${pathname}` });
  };
  return { handler, sessions, loseStepOf: (session: string) => lost.add(session) };
}

const BASE_ENV = { TARGET_URL: 'http://node:3000', DURATION: '5s' };

function trues(values: number[] | undefined): number {
  return (values ?? []).filter((v) => v === 1).length;
}

describe('bench/k6/load-test.js options', () => {
  it('runs one constant-arrival-rate scenario sized from the environment', async () => {
    const { script } = await loadScript({ ...BASE_ENV, TARGET_RATE: '200', DURATION: '30s', PRE_ALLOCATED_VUS: '25', MAX_VUS: '300' });
    expect(script.options.scenarios).toEqual({
      run_js: {
        executor: 'constant-arrival-rate',
        rate: 200,
        timeUnit: '1s',
        duration: '30s',
        preAllocatedVUs: 25,
        maxVUs: 300,
      },
    });
    expect(script.options.summaryTrendStats).toContain('p(99)');
  });

  it('sizes VUs like MCP-V8 when not told: a tenth of the rate pre-allocated, one per request/s at most', async () => {
    const { script } = await loadScript({ ...BASE_ENV, TARGET_RATE: '1000' });
    expect(script.options.scenarios.run_js).toMatchObject({ preAllocatedVUs: 100, maxVUs: 1000 });
  });

  it('fails the run below 99% success or over the p95 limit, and on any session divergence when stateful', async () => {
    const stateless = await loadScript({ ...BASE_ENV, P95_MS: '250' });
    expect(stateless.script.options.thresholds).toEqual({ success_rate: ['rate>=0.99'], exec_latency: ['p(95)<250'] });
    const stateful = await loadScript({ ...BASE_ENV, MODE: 'stateful' });
    expect(stateful.script.options.thresholds).toEqual({
      success_rate: ['rate>=0.99'],
      exec_latency: ['p(95)<1000'],
      session_divergence: ['count==0'],
    });
    expect(stateful.script.options.tags).toEqual({ topology: 'single', mode: 'stateful', flow: 'wait' });
  });

  it('refuses a mode or flow it does not know', async () => {
    await expect(loadScript({ ...BASE_ENV, MODE: 'sticky' })).rejects.toThrow(/MODE must be one of stateless\|stateful/);
    await expect(loadScript({ ...BASE_ENV, FLOW: 'sse' })).rejects.toThrow(/FLOW must be one of wait\|poll\|mcp/);
    await expect(loadScript({ ...BASE_ENV, TARGET_RATE: '0' })).rejects.toThrow(/TARGET_RATE must be a positive integer/);
  });
});

describe('bench/k6/load-test.js iterations', () => {
  it('FLOW=wait: one POST /api/exec?wait per iteration, success only for the result 2', async () => {
    const fake = fakeRaftbox();
    const { script, world } = await loadScript({ ...BASE_ENV }, fake.handler);
    iterate(script, world, 3);
    expect(world.requests.map((r) => `${r.method} ${r.url}`)).toEqual(Array(3).fill('POST http://node:3000/api/exec?wait=5000'));
    expect(JSON.parse(String(world.requests[0]!.body))).toEqual({ code: '1 + 1' });
    expect(trues(world.metrics.success_rate)).toBe(3);
    expect(world.metrics.exec_duration).toEqual([0.5, 0.5, 0.5]);
    expect(world.metrics.exec_latency).toHaveLength(3);
  });

  it('counts a completed execution with the wrong value as a failure (MCP-V8 counted any answer)', async () => {
    const { script, world } = await loadScript({ ...BASE_ENV }, () => ({
      status: 200,
      body: JSON.stringify({ execution_id: 'e', status: 'completed', result: null, duration_ms: 1 }),
    }));
    iterate(script, world, 2);
    expect(world.metrics.success_rate).toEqual([0, 0]);
    expect(world.checks.filter((c) => !c.pass).map((c) => c.name)).toEqual(['result is right', 'result is right']);
  });

  it('FLOW=poll: submit, 202 {execution_id}, then GET /api/executions/{id} with MCP-V8’s 50 ms sleeps', async () => {
    const fake = fakeRaftbox({ pendingPolls: 2 });
    const { script, world } = await loadScript({ ...BASE_ENV, FLOW: 'poll' }, fake.handler);
    iterate(script, world, 1);
    expect(world.requests.map((r) => `${r.method} ${new URL(r.url).pathname}${new URL(r.url).search}`)).toEqual([
      'POST /api/exec',
      'GET /api/executions/ex1',
      'GET /api/executions/ex1',
      'GET /api/executions/ex1',
    ]);
    expect(world.slept).toEqual([0.05, 0.05]);
    expect(world.metrics.success_rate).toEqual([1]);
  });

  it('FLOW=poll: takes an execution that raftbox already finished when it answered the submit (200)', async () => {
    const fake = fakeRaftbox({ doneOnSubmit: true });
    const { script, world } = await loadScript({ ...BASE_ENV, FLOW: 'poll' }, fake.handler);
    iterate(script, world, 1);
    expect(world.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST http://node:3000/api/exec']);
    expect(world.metrics.success_rate).toEqual([1]);
  });

  it('round-robins TARGET_URLS per iteration across all VUs', async () => {
    const fake = fakeRaftbox();
    const { script, world } = await loadScript({ TARGET_URLS: 'http://a:1, http://b:2/,http://c:3', DURATION: '5s' }, fake.handler);
    iterate(script, world, 6);
    expect(world.requests.map((r) => new URL(r.url).host)).toEqual(['a:1', 'b:2', 'c:3', 'a:1', 'b:2', 'c:3']);
  });

  it('MODE=stateful: each VU appends steps to its own session and checks the count it has been acknowledged', async () => {
    const fake = fakeRaftbox();
    const env = { ...BASE_ENV, MODE: 'stateful', TARGET_URLS: 'http://a:1,http://b:2' };
    const vu1 = await loadScript(env, fake.handler);
    const vu2 = await loadScript(env, fake.handler, vu1.world);
    const world = vu1.world;
    const vus = [vu1.script, vu2.script];
    const data = vu1.script.setup();
    for (const vu of [1, 2, 1, 1, 2]) {
      world.vu = vu;
      vus[vu - 1]!.default(data);
      world.iteration += 1;
    }
    const sent = world.requests.map((r) => JSON.parse(String(r.body)) as { code: string; session: string });
    expect(sent[0]!.code).toBe('var n = (globalThis.n ?? 0) + 1; n');
    expect(new Set(sent.map((s) => s.session)).size).toBe(2);
    expect([...fake.sessions.values()].sort()).toEqual([2, 3]);
    expect(trues(world.metrics.success_rate)).toBe(5);
    expect(world.metrics.session_divergence).toBeUndefined();
  });

  it('MODE=stateful: a lost step shows as session divergence and the VU goes on with a fresh session', async () => {
    const fake = fakeRaftbox();
    const { script, world } = await loadScript({ ...BASE_ENV, MODE: 'stateful' }, fake.handler);
    const data = script.setup();
    script.default(data);
    const first = (JSON.parse(String(world.requests[0]!.body)) as { session: string }).session;
    fake.loseStepOf(first);
    script.default(data); // answered 2, but the commit was lost
    script.default(data); // the server says 2 again where 3 was due
    script.default(data); // a fresh session starts at 1
    const sessions = world.requests.map((r) => (JSON.parse(String(r.body)) as { session: string }).session);
    expect(sessions.slice(0, 3)).toEqual([first, first, first]);
    expect(sessions[3]).not.toBe(first);
    expect(world.metrics.success_rate).toEqual([1, 1, 0, 1]);
    expect(world.metrics.session_divergence).toEqual([1]);
  });

  it.each([false, true])('FLOW=mcp: JSON-RPC tools/call run_js, reads structuredContent (SSE answer: %s)', async (sse) => {
    const fake = fakeRaftbox({ sse });
    const { script, world } = await loadScript({ ...BASE_ENV, FLOW: 'mcp' }, fake.handler);
    iterate(script, world, 2);
    const req = world.requests[1]!;
    expect(req.url).toBe('http://node:3000/mcp');
    expect(req.headers.Accept).toBe('application/json, text/event-stream');
    expect(req.headers['Mcp-Session-Id']).toBeUndefined();
    expect(JSON.parse(String(req.body))).toEqual({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'run_js', arguments: { code: '1 + 1' } },
    });
    expect(world.metrics.success_rate).toEqual([1, 1]);
  });

  it('parses SSE bodies: multi-line data, CRLF, comments and events without data', async () => {
    const { script } = await loadScript({ ...BASE_ENV });
    const body = ': keepalive\r\nevent: message\r\ndata: {"a":\r\ndata: 1}\r\n\r\nevent: ping\n\ndata: {"b":2}';
    expect(script.parseSseMessages(body)).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('sends OAUTH_TOKEN as a bearer token', async () => {
    const fake = fakeRaftbox();
    const { script, world } = await loadScript({ ...BASE_ENV, OAUTH_TOKEN: 'tok' }, fake.handler);
    iterate(script, world, 1);
    expect(world.requests[0]!.headers.Authorization).toBe('Bearer tok');
  });

  it('gets a token by client_credentials in setup() and uses it on every call', async () => {
    const fake = fakeRaftbox();
    const handler: Handler = (req) =>
      req.url === 'http://auth/oauth/token' ? { status: 200, body: JSON.stringify({ access_token: 'cc-token', token_type: 'Bearer' }) } : fake.handler(req);
    const env = { ...BASE_ENV, OAUTH_TOKEN_URL: 'http://auth/oauth/token', OAUTH_CLIENT_ID: 'k6 bench', OAUTH_CLIENT_SECRET: 's:cret' };
    const { script, world } = await loadScript(env, handler);
    iterate(script, world, 1);
    const [tokenReq, call] = world.requests;
    expect(tokenReq!.body).toEqual({ grant_type: 'client_credentials', scope: 'raftbox:run raftbox:read' });
    expect(Buffer.from(tokenReq!.headers.Authorization!.replace('Basic ', ''), 'base64').toString()).toBe('k6%20bench:s%3Acret');
    expect(call!.headers.Authorization).toBe('Bearer cc-token');
  });

  it('fails setup() when the token endpoint refuses', async () => {
    const env = { ...BASE_ENV, OAUTH_TOKEN_URL: 'http://auth/token', OAUTH_CLIENT_ID: 'a', OAUTH_CLIENT_SECRET: 'b' };
    const { script } = await loadScript(env, () => ({ status: 401, body: '{"error":"invalid_client"}' }));
    expect(() => script.setup()).toThrow(/HTTP 401/);
  });
});

describe('bench/k6/load-test.js handleSummary', () => {
  const summary = {
    state: { testRunDurationMs: 60_500 },
    metrics: {
      iterations: { values: { count: 11_990, rate: 198.17 } },
      http_reqs: { values: { count: 11_990, rate: 198.17 } },
      exec_latency: {
        values: { avg: 12.5, min: 1, med: 9, max: 80, 'p(90)': 30, 'p(95)': 40.25, 'p(99)': 61.5 },
        thresholds: { 'p(95)<1000': { ok: true } },
      },
      exec_duration: { values: { avg: 0.84, min: 0.1, med: 0.7, max: 9.9, 'p(90)': 1.5, 'p(95)': 1.9, 'p(99)': 3.2 } },
      success_rate: { values: { rate: 0.9991, passes: 11_979, fails: 11 }, thresholds: { 'rate>=0.99': { ok: true } } },
      dropped_iterations: { values: { count: 3, rate: 0.05 } },
      vus_max: { values: { value: 40, min: 20, max: 40 } },
    },
  };

  it('writes the result file (default bench/out/k6-<topology>-<mode>-<rate>.json) and a text summary', async () => {
    const { script } = await loadScript({ TARGET_URL: 'http://127.0.0.1:8080', TOPOLOGY: 'cluster', MODE: 'stateful', TARGET_RATE: '200' });
    const files = script.handleSummary(summary);
    expect(Object.keys(files).sort()).toEqual(['bench/out/k6-cluster-stateful-200.json', 'stdout']);
    expect(JSON.parse(files['bench/out/k6-cluster-stateful-200.json']!)).toEqual({
      schema: 'raftbox-bench/1',
      tool: 'k6',
      topology: 'cluster',
      mode: 'stateful',
      flow: 'wait',
      target_rate: 200,
      duration_s: 60.5,
      target_urls: ['http://127.0.0.1:8080'],
      iterations: 11_990,
      iter_per_s: 198.17,
      http_req_per_s: 198.17,
      latency_ms: { avg: 12.5, p50: 9, p95: 40.25, p99: 61.5, max: 80 },
      server_exec_ms: { avg: 0.84, p50: 0.7, p95: 1.9, p99: 3.2, max: 9.9 },
      success_rate: 0.9991,
      dropped: 3,
      max_vus: 40,
      session_divergence: 0,
      thresholds_ok: true,
    });
    expect(files.stdout).toContain('success             99.91 %');
  });

  it('honours RESULT_FILE and reports failed thresholds and missing metrics', async () => {
    const { script } = await loadScript({ ...BASE_ENV, RESULT_FILE: 'out/x.json' });
    const failed = {
      state: { testRunDurationMs: 5_000 },
      metrics: { success_rate: { values: { rate: 0.5 }, thresholds: { 'rate>=0.99': { ok: false } } } },
    };
    const result = JSON.parse(script.handleSummary(failed)['out/x.json']!);
    expect(result).toMatchObject({ thresholds_ok: false, latency_ms: null, server_exec_ms: null, dropped: 0, iterations: 0 });
  });
});
