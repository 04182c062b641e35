import { z } from 'zod';
import { invalidParams, notFound } from '../errors.ts';
import { FINISHED, type EdgeDomain, type ExecutionStatus, type RunRequest } from './domain.ts';
import type { Json } from '../store/index.ts';
import {
  ExecutionView,
  JournalStepView,
  OutputView,
  SessionView,
  executionView,
  executionViewWithCode,
  journalStepView,
  outputView,
  sessionView,
} from './views.ts';

/**
 * The product's operations, declared once. Each is served as an MCP tool (src/mcp) and as a REST route
 * (src/api/rest.ts), and documented in the OpenAPI document (src/api/openapi.ts), all from this table:
 * the same input schema, the same mapping to the domain, the same output shape.
 */

export type Scope = 'raftbox:run' | 'raftbox:read';

export interface CallContext {
  /** OAuth subject of the caller; undefined when auth is off. */
  subject?: string;
  /** Scopes of the caller's token (egress rules may name them); undefined when auth is off. */
  scopes?: string[];
  /** Aborted when the caller goes away. */
  signal?: AbortSignal;
  /** REST `Idempotency-Key`: a retried submit answers the first execution. */
  idempotencyKey?: string;
  /** Which edge is calling; `run_js` waits for the result by default over MCP, not over REST. */
  edge: 'mcp' | 'rest';
}

export interface EdgeLimits {
  /** Longest a synchronous MCP `run_js` waits: the largest allowed timeout plus queueing slack. */
  maxWaitMs: number;
  /** What one run is held to on this server, as the `raftbox://docs/limits` resource tells agents. */
  sandbox: SandboxCaps;
}

export interface SandboxCaps {
  defaultMemoryMb: number;
  maxMemoryMb: number;
  defaultTimeoutSecs: number;
  maxTimeoutSecs: number;
  maxOutputBytes: number;
  maxArtifactBytes: number;
  maxInputBytes: number;
  maxBodyBytes: number;
}

export interface Operation<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  tool: string;
  method: 'get' | 'post' | 'delete';
  /** REST path in @koa/router syntax; `:name` segments are fields of `input`. */
  path: string;
  summary: string;
  description: string;
  scope: Scope;
  input: I;
  output: O;
  call(domain: EdgeDomain, args: z.output<I>, ctx: CallContext, limits: EdgeLimits): Promise<z.output<O>>;
  /** REST status of a successful answer (default 200). */
  restStatus?(out: z.output<O>): number;
  /** MCP: a successful call whose answer still means failure (a run that threw) sets `isError`. */
  isError?(out: z.output<O>): boolean;
}

const op = <I extends z.ZodObject, O extends z.ZodObject>(o: Operation<I, O>) => o as unknown as Operation;

// The domain checks names and state ids precisely; the schemas only bound them.
const sessionName = z.string().min(1).max(128);
const executionId = z.string().min(1).max(128).describe('Execution id returned by run_js / POST /api/exec.');
const limit = z.number().int().min(1).max(1000).optional().describe('Page size.');
const cursor = z.string().optional().describe('Opaque cursor from the previous page\'s `next_cursor`.');
const waitMs = z
  .number()
  .int()
  .min(0)
  .max(600_000)
  .optional()
  .describe('Milliseconds to wait for the execution to finish before answering with its current record.');

export const RunInput = z.strictObject({
  code: z.string().min(1).describe('JavaScript or TypeScript to run; the value of the last expression is the result.'),
  language: z.enum(['js', 'ts']).optional().describe('Default `ts` (a superset of JS: types are stripped before running).'),
  session: sessionName.optional().describe('Continue (or start) this named session: state persists from step to step.'),
  heap: z.string().min(1).max(128).optional().describe('Fork from this state id (the `heap` of an earlier step).'),
  heap_memory_max_mb: z.number().int().min(8).optional().describe('Heap limit in MB for this run (server default 64; above the server cap is an error).'),
  execution_timeout_secs: z.number().positive().optional().describe('Time limit in seconds (server default 30; above the server cap is an error).'),
  tags: z.record(z.string(), z.string()).optional().describe('Free key/value labels, filterable in list_executions.'),
  async: z.boolean().optional().describe('Answer at once with `execution_id` (poll with get_execution). REST always does unless `wait` is given.'),
  upgrade_packages: z
    .boolean()
    .optional()
    .describe('In a session: this step imports the newest approved version of each package it names instead of the version the session pinned, and the session keeps the new one (list_packages shows what is current).'),
  wait: waitMs,
  inputs: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Named JSON values handed to the code as the read-only `inputs` object (`inputs.params`); a session records them with the step.'),
  files: z
    .record(z.string(), z.strictObject({ mime_type: z.string().describe('Media type, e.g. `text/csv`.'), data: z.base64().describe('The bytes, base64.') }))
    .optional()
    .describe('Named files handed to the code in `inputs` as `File`s (`await inputs.csv.text()`, `.bytes()`, `.type`); a session records them with the step.'),
  typecheck: z
    .boolean()
    .optional()
    .describe('Type-check the code against the declarations of the upstream tools (search_tools, raftbox://tools.d.ts) before running it; type errors are answered like a syntax error, with the line, and nothing runs.'),
});

/** The one translation from the wire parameters to the domain's RunRequest. */
export function runRequest(args: z.output<typeof RunInput>, ctx: CallContext): RunRequest {
  return {
    code: args.code,
    language: args.language,
    session: args.session,
    heap: args.heap,
    memoryMb: args.heap_memory_max_mb,
    timeoutSecs: args.execution_timeout_secs,
    tags: args.tags,
    idempotencyKey: ctx.idempotencyKey,
    subject: ctx.subject,
    ...(args.inputs ? { inputs: args.inputs as Record<string, Json> } : {}),
    ...(args.files
      ? { files: Object.fromEntries(Object.entries(args.files).map(([name, f]) => [name, { mimeType: f.mime_type, data: new Uint8Array(Buffer.from(f.data, 'base64')) }])) }
      : {}),
    ...(ctx.scopes ? { scopes: ctx.scopes } : {}),
    ...(args.upgrade_packages ? { upgradePackages: true } : {}),
    ...(args.typecheck ? { typecheck: true } : {}),
  };
}

function runWaitMs(args: z.output<typeof RunInput>, ctx: CallContext, limits: EdgeLimits): number {
  if (args.wait !== undefined) return args.wait;
  if (ctx.edge === 'rest' || args.async) return 0;
  return limits.maxWaitMs;
}

const ExecutionList = z.object({
  executions: z.array(ExecutionView),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});

const UsageView = z.object({
  live_sessions: z.number().describe('Named sessions the caller has.'),
  stored_bytes: z.number().describe('Bytes of the caller\'s session state objects.'),
  concurrent_runs: z.number().describe('The caller\'s runs in progress on the node answering.'),
  cpu_secs_last_minute: z.number().describe('CPU seconds the caller\'s runs used in the last minute on the node answering.'),
  limits: z
    .object({
      live_sessions: z.number(),
      steps_per_session: z.number(),
      stored_mb: z.number(),
      concurrent_runs: z.number(),
      cpu_secs_per_minute: z.number(),
    })
    .describe('The quotas (0: none). Over a size quota a call is refused with 403, over a rate with 429 and Retry-After.'),
});

const SessionList = z.object({
  sessions: z.array(SessionView),
  next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
});

const SessionDetail = SessionView.extend({
  journal: z.array(JournalStepView).describe('Steps in order, one page of them.'),
  next_steps_cursor: z.string().nullable().describe('Pass as `steps_cursor` for the next steps; null at the end.'),
});

const PackageView = z.object({
  name: z.string().describe('The specifier to import (`lodash`, `date-fns/locale`, `node:path`).'),
  version: z.string(),
  hash: z.string().describe('sha256 of the bundle the sandbox evaluates; sessions record it per step.'),
});

export const OPERATIONS: readonly Operation[] = [
  op({
    tool: 'run_js',
    method: 'post',
    path: '/api/exec',
    summary: 'Run JavaScript/TypeScript',
    description:
      'Runs code in an isolated V8 sandbox and answers the finished execution: status, result (the completion value, ' +
      '`1 + 1` gives 2), console output, error. With `session` it continues that named session (top-level declarations ' +
      'persist); with `heap` it forks from an earlier state. With `async: true` it answers `execution_id` at once. ' +
      'The sandbox has the web platform APIs that need no I/O (URL, URLSearchParams, URLPattern, TextEncoder/TextDecoder, ' +
      'atob/btoa, structuredClone, crypto.getRandomValues/randomUUID/subtle, Blob, File, FormData, Headers, Request, ' +
      'Response, streams, CompressionStream, AbortController, EventTarget, performance.mark, WebAssembly) and Node-style ' +
      'console (log, table, group, count, time), and `import`/`require` of the packages the operator approved and of Node built-ins (list_packages / GET /api/packages lists them), and no file system. ' +
      '`fetch` reaches only what the operator allowed (otherwise it rejects with a TypeError saying so); in a session its answers are recorded with the step, so no request is ever sent twice. ' +
      'Timers and Date run on a virtual clock, so `await new Promise(r => setTimeout(r, 1000))` finishes at once (while a fetch is pending the clock follows real time); ' +
      'random values come from a cryptographically strong generator seeded per step, so replaying a session on any ' +
      'node rebuilds it exactly.',
    scope: 'raftbox:run',
    input: RunInput,
    output: ExecutionView,
    async call(domain, args, ctx, limits) {
      const waitMs = runWaitMs(args, ctx, limits);
      return executionView(await domain.executions.run(runRequest(args, ctx), { waitMs, signal: ctx.signal }));
    },
    restStatus: (out) => (FINISHED.has(out.status) ? 200 : 202),
    isError: (out) => FINISHED.has(out.status) && out.status !== 'completed',
  }),
  op({
    tool: 'get_execution',
    method: 'get',
    path: '/api/executions/:execution_id',
    summary: 'Get an execution',
    description: 'Status, result, console output and error of an execution. With `wait` it long-polls until it finishes; with `include_code` it also answers the code it ran.',
    scope: 'raftbox:read',
    input: z.strictObject({
      execution_id: executionId,
      wait: waitMs,
      include_code: z.boolean().optional().describe('Also answer `code` (the first 16 KiB of what it ran) and `code_truncated`.'),
    }),
    output: ExecutionView,
    async call(domain, args, ctx) {
      const execution = await domain.executions.get(args.execution_id, { waitMs: args.wait, subject: ctx.subject });
      return args.include_code ? executionViewWithCode(execution) : executionView(execution);
    },
  }),
  op({
    tool: 'get_execution_output',
    method: 'get',
    path: '/api/executions/:execution_id/output',
    summary: 'Read console output',
    description:
      'A window of an execution\'s console text, by lines (`line_offset`/`line_limit`) or bytes (`byte_offset`/`byte_limit`), ' +
      'also while it runs (its output so far, from any node). With `wait` an empty window waits for more output or the end of the run.',
    scope: 'raftbox:read',
    input: z.strictObject({
      execution_id: executionId,
      line_offset: z.number().int().min(0).optional().describe('First line (0-based).'),
      line_limit: z.number().int().min(1).optional().describe('Lines to return.'),
      byte_offset: z.number().int().min(0).optional().describe('First byte (UTF-8).'),
      byte_limit: z.number().int().min(1).optional().describe('Bytes to return.'),
      wait: waitMs.describe('Milliseconds to wait, when nothing is there yet past the offset, for more output or the end of the run.'),
    }),
    output: OutputView,
    async call(domain, args, ctx) {
      const window = (o: number | undefined, l: number | undefined) =>
        o === undefined && l === undefined ? undefined : { offset: o ?? 0, limit: l ?? Number.MAX_SAFE_INTEGER };
      const page = await domain.executions.output(args.execution_id, {
        line: window(args.line_offset, args.line_limit),
        byte: window(args.byte_offset, args.byte_limit),
        subject: ctx.subject,
        waitMs: args.wait,
      });
      return outputView(await domain.executions.get(args.execution_id, { subject: ctx.subject }), page);
    },
  }),
  op({
    tool: 'cancel_execution',
    method: 'post',
    path: '/api/executions/:execution_id/cancel',
    summary: 'Cancel an execution',
    description: 'Stops a queued or running execution and answers its record (cancelling a finished one is a 409 conflict).',
    scope: 'raftbox:run',
    input: z.strictObject({ execution_id: executionId }),
    output: ExecutionView,
    async call(domain, args, ctx) {
      return executionView(await domain.executions.cancel(args.execution_id, ctx.subject));
    },
  }),
  op({
    tool: 'list_executions',
    method: 'get',
    path: '/api/executions',
    summary: 'List executions',
    description: 'Executions, newest first, filtered by status, session or tag, one page at a time.',
    scope: 'raftbox:read',
    input: z.strictObject({
      status: ExecutionView.shape.status.optional(),
      session: sessionName.optional(),
      tag: z.string().optional().describe('`key=value`: only executions with that tag.'),
      cursor,
      // The service pages executions 500 at a time at most (sessions: 1000).
      limit: z.number().int().min(1).max(500).optional().describe('Page size.'),
    }),
    output: ExecutionList,
    async call(domain, args, ctx) {
      const { executions, nextCursor } = await domain.executions.list({
        status: args.status as ExecutionStatus | undefined,
        session: args.session,
        tag: args.tag,
        cursor: args.cursor,
        limit: args.limit,
        subject: ctx.subject,
      });
      return { executions: executions.map(executionView), next_cursor: nextCursor };
    },
  }),
  op({
    tool: 'list_sessions',
    method: 'get',
    path: '/api/sessions',
    summary: 'List sessions',
    description: 'Named sessions with their step counts and latest state, one page at a time.',
    scope: 'raftbox:read',
    input: z.strictObject({ cursor, limit }),
    output: SessionList,
    async call(domain, args, ctx) {
      const { sessions, nextCursor } = await domain.sessions.list({ cursor: args.cursor, limit: args.limit, subject: ctx.subject });
      return { sessions: sessions.map(sessionView), next_cursor: nextCursor };
    },
  }),
  op({
    tool: 'get_session',
    method: 'get',
    path: '/api/sessions/:session',
    summary: 'Get a session',
    description: 'A session and its journal of steps (code, state id, whether it threw), paginated with `steps_cursor`/`steps_limit`.',
    scope: 'raftbox:read',
    input: z.strictObject({ session: sessionName, steps_cursor: cursor, steps_limit: limit }),
    output: SessionDetail,
    async call(domain, args, ctx) {
      const { journal, nextStepsCursor, ...info } = await domain.sessions.get(args.session, {
        stepsCursor: args.steps_cursor,
        stepsLimit: args.steps_limit,
        subject: ctx.subject,
      });
      return { ...sessionView(info), journal: journal.map(journalStepView), next_steps_cursor: nextStepsCursor };
    },
  }),
  op({
    tool: 'get_usage',
    method: 'get',
    path: '/api/usage',
    summary: 'Get your usage and quotas',
    description: 'The caller\'s use of each quota (live sessions, stored session state, runs in progress and CPU seconds in the last minute on the node answering) and the limits (0: none).',
    scope: 'raftbox:read',
    input: z.strictObject({}),
    output: UsageView,
    async call(domain, _args, ctx) {
      if (!domain.quotas) throw notFound('this node reports no usage');
      const u = domain.quotas.usage(ctx.subject ?? null);
      return {
        live_sessions: u.liveSessions,
        stored_bytes: u.storedBytes,
        concurrent_runs: u.concurrentRuns,
        cpu_secs_last_minute: u.cpuSecsLastMinute,
        limits: {
          live_sessions: u.limits.liveSessions,
          steps_per_session: u.limits.stepsPerSession,
          stored_mb: u.limits.storedMb,
          concurrent_runs: u.limits.concurrentRuns,
          cpu_secs_per_minute: u.limits.cpuSecsPerMinute,
        },
      };
    },
  }),
  op({
    tool: 'list_packages',
    method: 'get',
    path: '/api/packages',
    summary: 'List importable packages',
    description:
      'The npm packages the operator approved and the Node built-ins, with versions and bundle hashes: what `import x from \'name\'`, ' +
      '`await import(\'name\')` and `require(\'name\')` can load in run_js (built-ins also as `node:name`). A session keeps the version it first imported.',
    scope: 'raftbox:read',
    input: z.strictObject({}),
    output: z.object({
      packages: z.array(PackageView).describe('Approved packages.'),
      builtins: z.array(PackageView).describe('Node built-ins, as `node:name`.'),
    }),
    async call(domain) {
      return domain.packages?.list() ?? { packages: [], builtins: [] };
    },
  }),
  op({
    tool: 'search_tools',
    method: 'get',
    path: '/api/tools',
    summary: 'Find upstream tools for code',
    description:
      'Finds tools of the upstream MCP servers that run_js code can call (`await tools.<server>.<tool>(args)`, or ' +
      '`mcp.callTool(server, tool, args)`), by keywords (every word must appear in the name, title or description) and/or ' +
      'server, and answers their TypeScript declarations: each tool\'s argument and answer types, its description as the doc ' +
      'comment. Load only what you need; the full set is the resource raftbox://tools.d.ts (one server: raftbox://tools/<server>.d.ts). ' +
      'Listed only by a node with upstream servers (docs/code-mode.md).',
    scope: 'raftbox:read',
    input: z.strictObject({
      query: z.string().max(200).optional().describe('Keywords, e.g. `issue search`; absent: every tool (of `server`, if given).'),
      server: z.string().min(1).max(64).optional().describe('Only this upstream server\'s tools.'),
    }),
    output: z.object({
      servers: z.array(z.string()).describe('The upstream servers this caller may use.'),
      matches: z.array(z.object({ server: z.string(), tool: z.string() })).describe('The tools found (at most 50).'),
      declarations: z.string().describe('TypeScript declarations of the tools found; valid beside the prelude of raftbox://tools.d.ts.'),
      more: z.boolean().describe('True when more tools matched than were answered: search more precisely.'),
    }),
    async call(domain, args, ctx) {
      const caller = { subject: ctx.subject ?? null, scopes: ctx.scopes ?? [] };
      const servers = domain.tools?.usable(caller) ?? [];
      if (args.server !== undefined && !servers.includes(args.server)) {
        throw notFound(`no upstream server "${args.server}" for this caller (${servers.length > 0 ? `usable: ${servers.join(', ')}` : 'none is usable'})`);
      }
      const found = domain.tools ? await domain.tools.search(caller, args.query, args.server) : { matches: [], declarations: '', more: false };
      return { servers, ...found };
    },
  }),
  op({
    tool: 'delete_session',
    method: 'delete',
    path: '/api/sessions/:session',
    summary: 'Delete a session',
    description: 'Forgets a session and its journal; its name can then start a new session.',
    scope: 'raftbox:run',
    input: z.strictObject({ session: sessionName }),
    output: z.object({ session: z.string(), deleted: z.literal(true) }),
    async call(domain, args, ctx) {
      await domain.sessions.delete(args.session, ctx.subject);
      return { session: args.session, deleted: true as const };
    },
  }),
];

/**
 * Validates the arguments of a call the same way on every edge. A JSON `null` counts as absent, since
 * generated clients (MCP-V8's among them) send `null` for every unset optional field.
 */
export function parseArgs(op: Operation, raw: Record<string, unknown>): Record<string, unknown> {
  const present = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null && v !== undefined));
  const parsed = op.input.safeParse(present);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) =>
    i.code === 'unrecognized_keys' ? `unknown parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}` : `${i.path.join('.') || 'arguments'}: ${i.message}`,
  );
  throw invalidParams(`invalid arguments for ${op.tool}: ${problems.join('; ')}`);
}
