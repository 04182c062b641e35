// raftbox load test: MCP-V8's single-node vs three-node benchmark, with the result checked.
//
//   k6 run -e TARGET_URL=http://127.0.0.1:8080 -e TOPOLOGY=cluster -e MODE=stateful -e TARGET_RATE=200 \
//     bench/k6/load-test.js
//
// Environment (see bench/k6/README.md): TARGET_URL or TARGET_URLS (comma list, round-robin per iteration),
// TARGET_RATE, DURATION, PRE_ALLOCATED_VUS, MAX_VUS, TOPOLOGY, MODE=stateless|stateful, FLOW=poll|wait|mcp,
// P95_MS, WAIT_MS, POLL_INTERVAL_MS, EXEC_DEADLINE_MS, RESULT_FILE, OAUTH_TOKEN or OAUTH_TOKEN_URL +
// OAUTH_CLIENT_ID + OAUTH_CLIENT_SECRET (+ OAUTH_SCOPE, OAUTH_RESOURCE).
//
// Written for k6's JavaScript runtime: no optional chaining, nullish coalescing or object spread here
// (the code sent to the server may use them; it runs in the server's V8).
import http from 'k6/http';
import { check, sleep } from 'k6';
import encoding from 'k6/encoding';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';

function env(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === '' ? fallback : value;
}

function positiveInt(name, fallback) {
  const value = Number(env(name, String(fallback)));
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${__ENV[name]}`);
  return value;
}

function oneOf(name, allowed) {
  const value = env(name, allowed[0]);
  if (allowed.indexOf(value) < 0) throw new Error(`${name} must be one of ${allowed.join('|')}, got ${value}`);
  return value;
}

const TARGET_URLS = env('TARGET_URLS', env('TARGET_URL', 'http://127.0.0.1:3000'))
  .split(',')
  .map((url) => url.trim().replace(/\/+$/, ''))
  .filter((url) => url !== '');
const TARGET_RATE = positiveInt('TARGET_RATE', 100);
const DURATION = env('DURATION', '60s');
const TOPOLOGY = env('TOPOLOGY', 'single');
const MODE = oneOf('MODE', ['stateless', 'stateful']);
// `wait` first: it is the default because it measures the server, not a polling interval.
const FLOW = oneOf('FLOW', ['wait', 'poll', 'mcp']);
// MCP-V8's sizing: a tenth of the rate pre-allocated, up to one VU per request per second.
const PRE_ALLOCATED_VUS = positiveInt('PRE_ALLOCATED_VUS', Math.min(Math.max(Math.ceil(TARGET_RATE / 10), 10), 500));
const MAX_VUS = positiveInt('MAX_VUS', Math.min(Math.max(TARGET_RATE, PRE_ALLOCATED_VUS), 5000));
const P95_MS = positiveInt('P95_MS', 1000);
const WAIT_MS = positiveInt('WAIT_MS', 5000);
// MCP-V8's k6 script sleeps 50 ms between polls, which puts a 50 ms floor under its latency.
const POLL_INTERVAL_MS = positiveInt('POLL_INTERVAL_MS', 50);
const EXEC_DEADLINE_MS = positiveInt('EXEC_DEADLINE_MS', 30000);
const MCP_PROTOCOL_VERSION = env('MCP_PROTOCOL_VERSION', '2025-06-18');
const RESULT_FILE = env('RESULT_FILE', `bench/out/k6-${TOPOLOGY}-${MODE}-${TARGET_RATE}.json`);

// Stateless: the completion value must come back as the JSON number 2 (MCP-V8 counted an empty result as
// success). Stateful: every step increments a counter kept in the session, so the answer must equal the
// number of steps this VU has had acknowledged on its session; a lost, duplicated or forked step shows.
const STATELESS_CODE = '1 + 1';
const STATEFUL_CODE = 'var n = (globalThis.n ?? 0) + 1; n';

const execLatency = new Trend('exec_latency', true); // client side: submit until the finished result is read
const execDuration = new Trend('exec_duration', true); // server side: the execution's duration_ms
const successRate = new Rate('success_rate'); // true only when the result is the right value
const sessionDivergence = new Counter('session_divergence'); // a completed step with the wrong count

const thresholds = {
  success_rate: ['rate>=0.99'],
  exec_latency: [`p(95)<${P95_MS}`],
};
if (MODE === 'stateful') thresholds.session_divergence = ['count==0'];

export const options = {
  scenarios: {
    run_js: {
      executor: 'constant-arrival-rate',
      rate: TARGET_RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: PRE_ALLOCATED_VUS,
      maxVUs: MAX_VUS,
    },
  },
  thresholds,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  tags: { topology: TOPOLOGY, mode: MODE, flow: FLOW },
};

export function setup() {
  // The run id keeps this run's session names apart from earlier runs against the same data dir.
  return { token: accessToken(), runId: Date.now().toString(36) };
}

function accessToken() {
  if (__ENV.OAUTH_TOKEN) return __ENV.OAUTH_TOKEN;
  if (!__ENV.OAUTH_TOKEN_URL) return null;
  const clientId = required('OAUTH_CLIENT_ID');
  const clientSecret = required('OAUTH_CLIENT_SECRET');
  const form = { grant_type: 'client_credentials', scope: env('OAUTH_SCOPE', 'raftbox:run raftbox:read') };
  if (__ENV.OAUTH_RESOURCE) form.resource = __ENV.OAUTH_RESOURCE;
  // client_secret_basic, the default token endpoint auth method of RFC 7591; RFC 6749 §2.3.1 has the
  // id and secret form-encoded before they are joined.
  const basic = encoding.b64encode(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`);
  const res = http.post(__ENV.OAUTH_TOKEN_URL, form, { headers: { Authorization: `Basic ${basic}` } });
  const body = parseJson(res.body);
  if (res.status !== 200 || !body || typeof body.access_token !== 'string') {
    throw new Error(`client_credentials token request failed: HTTP ${res.status} ${res.body}`);
  }
  return body.access_token;
}

function required(name) {
  if (!__ENV[name]) throw new Error(`${name} is required with OAUTH_TOKEN_URL`);
  return __ENV[name];
}

// Module state is per VU in k6: each VU owns one session at a time and the count of its acknowledged steps.
let session = null;
let sessionsOpened = 0;

function vuSession(runId) {
  if (session === null) {
    sessionsOpened += 1;
    session = { name: `k6-${runId}-vu${exec.vu.idInTest}-${sessionsOpened}`, steps: 0 };
  }
  return session;
}

export default function (data) {
  // Global iteration number, not a per-VU counter, so every VU spreads its calls over all nodes.
  const base = TARGET_URLS[exec.scenario.iterationInTest % TARGET_URLS.length];
  const s = MODE === 'stateful' ? vuSession(data.runId) : null;
  const args = s ? { code: STATEFUL_CODE, session: s.name } : { code: STATELESS_CODE };
  const expected = s ? s.steps + 1 : 2;
  const headers = { 'Content-Type': 'application/json' };
  if (data.token) headers.Authorization = `Bearer ${data.token}`;
  // Names the session for the load balancer, which keeps its steps on one node (cluster/nginx-site.ts).
  if (s) headers['Raftbox-Session'] = s.name;

  const started = Date.now();
  const execution = FLOWS[FLOW](base, args, headers);
  execLatency.add(Date.now() - started);
  if (execution && typeof execution.duration_ms === 'number') execDuration.add(execution.duration_ms);

  const completed = execution !== null && execution.status === 'completed';
  const right = completed && execution.result === expected;
  check(execution, {
    'execution completed': () => completed,
    'result is right': () => right,
  });
  successRate.add(right);

  if (s === null) return;
  if (right) {
    s.steps = expected;
    return;
  }
  if (completed) sessionDivergence.add(1);
  // After a wrong count, or a failure that leaves unknown whether the step committed, this session's
  // expected count is no longer known: go on with a fresh session so later checks stay exact.
  session = null;
}

const FLOWS = {
  // MCP-V8's flow: submit without waiting, then poll GET /api/executions/{id} until the execution is finished.
  // MCP-V8 answers 202 {execution_id}; raftbox answers 202 with the queued record, or 200 when already done.
  poll(base, args, headers) {
    return submit(`${base}/api/exec`, base, args, headers);
  },

  // One request that answers with the finished execution; long-polls on if it outlasts WAIT_MS.
  wait(base, args, headers) {
    return submit(`${base}/api/exec?wait=${WAIT_MS}`, base, args, headers);
  },

  // run_js over Streamable HTTP in the server's stateless mode: one JSON-RPC request, no initialize and no
  // Mcp-Session-Id; the finished execution is the tool result's structuredContent.
  mcp(base, args, headers) {
    const id = exec.scenario.iterationInTest;
    const rpc = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'run_js', arguments: args } };
    const mcpHeaders = Object.assign(
      { Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': MCP_PROTOCOL_VERSION },
      headers,
    );
    const res = http.post(`${base}/mcp`, JSON.stringify(rpc), requestParams(mcpHeaders, 'POST /mcp tools/call'));
    if (res.status !== 200) return null;
    const answer = jsonRpcAnswer(res, id);
    const content = answer && answer.result ? answer.result.structuredContent : null;
    return content && typeof content === 'object' ? content : null;
  },
};

function submit(url, base, args, headers) {
  const res = http.post(url, JSON.stringify(args), requestParams(headers, `POST ${url.slice(base.length)}`));
  const execution = res.status === 200 || res.status === 202 ? parseJson(res.body) : null;
  if (execution === null || isFinished(execution)) return execution;
  return typeof execution.execution_id === 'string' ? awaitFinished(base, execution.execution_id, headers) : null;
}

function awaitFinished(base, id, headers) {
  // FLOW=wait long-polls; FLOW=poll asks and sleeps, as MCP-V8's script does.
  const query = FLOW === 'poll' ? '' : `?wait=${WAIT_MS}`;
  const deadline = Date.now() + EXEC_DEADLINE_MS;
  while (Date.now() < deadline) {
    const res = http.get(`${base}/api/executions/${encodeURIComponent(id)}${query}`, requestParams(headers, 'GET /api/executions/{id}'));
    const execution = res.status === 200 ? parseJson(res.body) : null;
    if (execution === null || isFinished(execution)) return execution;
    if (FLOW === 'poll') sleep(POLL_INTERVAL_MS / 1000);
  }
  return null;
}

const FINISHED = ['completed', 'failed', 'timeout', 'memory_limit', 'cancelled'];

// MCP-V8's 202 carries no status at all: anything not finished is polled.
function isFinished(execution) {
  return FINISHED.indexOf(execution.status) >= 0;
}

function requestParams(headers, name) {
  // A fixed name tag keeps one metric series per endpoint instead of one per execution id.
  return { headers, tags: { name }, timeout: `${EXEC_DEADLINE_MS}ms` };
}

function parseJson(text) {
  try {
    return typeof text === 'string' ? JSON.parse(text) : null;
  } catch (_) {
    return null;
  }
}

function jsonRpcAnswer(res, id) {
  const type = String(res.headers['Content-Type'] || '');
  if (type.indexOf('text/event-stream') < 0) return parseJson(res.body);
  const answers = parseSseMessages(res.body).filter((message) => message && message.id === id);
  return answers.length > 0 ? answers[0] : null;
}

// The JSON payloads of an SSE body: an event's `data:` lines joined by newlines, events split by a blank line.
export function parseSseMessages(body) {
  const messages = [];
  let data = [];
  const flush = () => {
    if (data.length > 0) messages.push(parseJson(data.join('\n')));
    data = [];
  };
  for (const line of String(body || '').split(/\r?\n/)) {
    if (line === '') flush();
    else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
  }
  flush();
  return messages;
}

export function handleSummary(data) {
  const result = summaryResult(data);
  const files = { stdout: textSummary(result) };
  files[RESULT_FILE] = `${JSON.stringify(result, null, 2)}\n`;
  return files;
}

// The per-run result file; its shape is defined in bench/k6/README.md and shared with the Node runner.
export function summaryResult(data) {
  const metrics = data.metrics;
  const values = (name) => (metrics[name] ? metrics[name].values : null);
  const trend = (name) => {
    const v = values(name);
    return v ? { avg: v.avg, p50: v.med, p95: v['p(95)'], p99: v['p(99)'], max: v.max } : null;
  };
  const read = (name, field) => {
    const v = values(name);
    return v && typeof v[field] === 'number' ? v[field] : 0;
  };
  let thresholdsOk = true;
  for (const name of Object.keys(metrics)) {
    const results = metrics[name].thresholds || {};
    for (const expression of Object.keys(results)) thresholdsOk = thresholdsOk && results[expression].ok;
  }
  return {
    schema: 'raftbox-bench/1',
    tool: 'k6',
    topology: TOPOLOGY,
    mode: MODE,
    flow: FLOW,
    target_rate: TARGET_RATE,
    duration_s: data.state.testRunDurationMs / 1000,
    target_urls: TARGET_URLS,
    iterations: read('iterations', 'count'),
    iter_per_s: read('iterations', 'rate'),
    http_req_per_s: read('http_reqs', 'rate'),
    latency_ms: trend('exec_latency'),
    server_exec_ms: trend('exec_duration'),
    success_rate: read('success_rate', 'rate'),
    dropped: read('dropped_iterations', 'count'),
    max_vus: read('vus_max', 'max'),
    session_divergence: read('session_divergence', 'count'),
    thresholds_ok: thresholdsOk,
  };
}

function textSummary(r) {
  const ms = (t, key) => (t && typeof t[key] === 'number' ? `${t[key].toFixed(2)} ms` : 'n/a');
  const lines = [
    `raftbox k6: ${r.topology} ${r.mode} flow=${r.flow} @ ${r.target_rate}/s for ${r.duration_s.toFixed(1)} s`,
    `  targets             ${r.target_urls.join(', ')}`,
    `  iterations          ${r.iterations} (${r.iter_per_s.toFixed(1)}/s), http ${r.http_req_per_s.toFixed(1)} req/s`,
    `  success             ${(r.success_rate * 100).toFixed(2)} %`,
    `  latency avg/p95/p99 ${ms(r.latency_ms, 'avg')} / ${ms(r.latency_ms, 'p95')} / ${ms(r.latency_ms, 'p99')}`,
    `  server exec avg/p95 ${ms(r.server_exec_ms, 'avg')} / ${ms(r.server_exec_ms, 'p95')}`,
    `  dropped             ${r.dropped}, max VUs ${r.max_vus}`,
  ];
  if (r.mode === 'stateful') lines.push(`  session divergence  ${r.session_divergence}`);
  lines.push(`  thresholds          ${r.thresholds_ok ? 'passed' : 'FAILED'}`, `  result file         ${RESULT_FILE}`, '');
  return lines.join('\n');
}
