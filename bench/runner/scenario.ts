// What one load-generator connection does, as a state machine autocannon drives request by request: the
// same iteration as bench/k6/load-test.js (submit `run_js`, wait or poll until it is finished, check the
// value), with one session per connection in stateful mode. autocannon asks `next()` for each request it
// writes and hands every answer to `onResponse()`, so an iteration that needs a poll spans several requests.
import { FINISHED, type ExecutionStatus } from '../../src/api/domain.ts';
import type { IterationSample } from './aggregate.ts';

export type Mode = 'stateless' | 'stateful';
export type Flow = 'wait' | 'poll' | 'mcp';

export interface ScenarioOptions {
  mode: Mode;
  flow: Flow;
  /** `?wait=` of the wait flow (k6's WAIT_MS). */
  waitMs: number;
  /** An iteration still unfinished this long after its submit fails (k6's EXEC_DEADLINE_MS). */
  deadlineMs: number;
  /** Keeps this run's session names apart from earlier runs on the same nodes. */
  runId: string;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** What the connections of one run observed, shared by all of them. */
export interface Tally {
  samples: IterationSample[];
  httpResponses: number;
}

// The k6 script's code: `1 + 1` must come back as 2; a stateful step increments a counter kept in the
// session, so its answer must equal the number of steps this connection has had acknowledged.
const STATELESS_CODE = '1 + 1';
const STATEFUL_CODE = 'var n = (globalThis.n ?? 0) + 1; n';
const MCP_PROTOCOL_VERSION = '2025-06-18';

interface Execution {
  execution_id?: unknown;
  status?: unknown;
  result?: unknown;
  duration_ms?: unknown;
}

interface Iteration {
  started: number;
  expected: number;
  /** Where to ask next while the execution is unfinished. */
  pollPath: string | null;
}

export class Connection {
  private session: { name: string; steps: number } | null = null;
  private sessionsOpened = 0;
  private iteration: Iteration | null = null;
  /** A request was written and has no answer yet. */
  private outstanding = false;

  private readonly opts: ScenarioOptions;
  private readonly id: number;
  private readonly tally: Tally;
  /** performance.now() at the end of the load window: autocannon may still start one burst at its edge, uncounted. */
  private readonly windowEnd: number;
  constructor(opts: ScenarioOptions, id: number, tally: Tally, windowEnd: number) {
    this.opts = opts;
    this.id = id;
    this.tally = tally;
    this.windowEnd = windowEnd;
  }

  next(): HttpRequest {
    // autocannon asks for the next request without an answer only after a timeout or a dropped connection:
    // that iteration failed, and whether its step committed is unknown.
    if (this.outstanding) this.end(null);
    this.outstanding = true;
    if (this.iteration?.pollPath) return { method: 'GET', path: this.iteration.pollPath, headers: this.sessionHint() };
    return this.submit();
  }

  onResponse(status: number, body: string): void {
    this.outstanding = false;
    const it = this.iteration;
    if (it === null) return;
    if (it.started <= this.windowEnd) this.tally.httpResponses += 1;
    const execution = status === 200 || status === 202 ? this.parse(body) : null;
    if (execution === null) return this.end(null);
    // Success needs HTTP 200 as well as the right value.
    if (FINISHED.has(String(execution.status) as ExecutionStatus)) return this.end(status === 200 ? execution : null);
    // Unfinished: poll it (REST flows) unless the deadline has passed; MCP's run_js answers when finished.
    const id = execution.execution_id;
    if (this.opts.flow === 'mcp' || typeof id !== 'string' || performance.now() - it.started > this.opts.deadlineMs) return this.end(null);
    const query = this.opts.flow === 'wait' ? `?wait=${this.opts.waitMs}` : '';
    it.pollPath = `/api/executions/${encodeURIComponent(id)}${query}`;
  }

  private submit(): HttpRequest {
    if (this.opts.mode === 'stateful' && this.session === null) {
      this.sessionsOpened += 1;
      this.session = { name: `ac-${this.opts.runId}-c${this.id}-${this.sessionsOpened}`, steps: 0 };
    }
    const args = this.session ? { code: STATEFUL_CODE, session: this.session.name } : { code: STATELESS_CODE };
    this.iteration = { started: performance.now(), expected: this.session ? this.session.steps + 1 : 2, pollPath: null };
    // Fresh header objects: autocannon's request builder writes Content-Length into the one it is given.
    const hint = this.sessionHint();
    if (this.opts.flow !== 'mcp') {
      const wait = this.opts.flow === 'wait' ? `?wait=${this.opts.waitMs}` : '';
      return { method: 'POST', path: `/api/exec${wait}`, headers: { 'content-type': 'application/json', ...hint }, body: JSON.stringify(args) };
    }
    const rpc = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run_js', arguments: args } };
    return {
      method: 'POST',
      path: '/mcp',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MCP_PROTOCOL_VERSION, ...hint },
      body: JSON.stringify(rpc),
    };
  }

  /** A step (and the poll of its run) names its session for the load balancer (cluster/nginx-site.ts: `session` balancing). */
  private sessionHint(): Record<string, string> {
    return this.session ? { 'raftbox-session': this.session.name } : {};
  }

  /** The execution record in an answer: the REST body, or MCP's `structuredContent` (the server answers JSON). */
  private parse(body: string): Execution | null {
    try {
      const json = JSON.parse(body) as Record<string, unknown> | null;
      const record = this.opts.flow === 'mcp' ? (json?.result as Record<string, unknown> | undefined)?.structuredContent : json;
      return record !== null && typeof record === 'object' ? (record as Execution) : null;
    } catch {
      return null;
    }
  }

  /** Records the iteration: `execution` is its finished record, or null when it failed without one. */
  private end(execution: Execution | null): void {
    const it = this.iteration!;
    this.iteration = null;
    const completed = execution?.status === 'completed';
    const right = completed && execution!.result === it.expected;
    const diverged = completed && !right && this.opts.mode === 'stateful';
    const serverMs = typeof execution?.duration_ms === 'number' ? execution.duration_ms : null;
    if (it.started <= this.windowEnd) this.tally.samples.push({ latencyMs: performance.now() - it.started, serverMs, right, diverged });
    if (this.session === null) return;
    if (right) this.session.steps = it.expected;
    // After a wrong count, or a failure that leaves unknown whether the step committed, the expected count
    // is no longer known: go on with a fresh session so later checks stay exact (as the k6 script does).
    else this.session = null;
  }
}
