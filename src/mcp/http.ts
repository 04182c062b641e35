import { Readable } from 'node:stream';
import type Koa from 'koa';
import Router from '@koa/router';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { isLegacyRequest } from '@modelcontextprotocol/server';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { principalOf, type Guard } from '../http/guard.ts';
import { CancelRelay, type ReplicatedStore } from './cancel-requests.ts';
import { callerOf, cancellable, cancelledRequest, InFlightRequests } from './in-flight.ts';
import { LogLevels } from './log-levels.ts';
import { modernLane } from './modern-http.ts';
import { progressTokenOf } from './progress.ts';
import { createMcpServer } from './server.ts';
import { READ_SCOPE, TASK_TOOL, toolScope } from './tools.ts';

export const MCP_PATH = '/mcp';

/** Idle servers kept for reuse; more concurrent requests than this simply build extra ones. */
const POOL_MAX = 64;

/**
 * `POST /mcp`: Streamable HTTP in stateless mode with JSON answers, so any node behind a round-robin
 * load balancer can answer any request (no transport session lives in memory between requests).
 *
 * Two lanes, chosen per request as the 2026-07-28 specification says (docs/mcp-tools.md, "Protocol
 * revisions"): a request carrying the per-request `_meta` envelope or a modern `MCP-Protocol-Version`
 * goes to the 2026-07-28 lane (modern-http.ts, v2 SDK); everything else — `initialize` and the
 * 2025-11-25-and-older traffic — to the v1 SDK below, unchanged.
 *
 * Cost: the SDK's Node transport converts every request through Hono, and a fresh McpServer per request
 * rebuilds its handlers and tool JSON schemas. Here the transport is the SDK's web-standard one fed a
 * Request we build from the already-parsed body, and the `Server`s (prebuilt handlers, tool list built
 * once) are reused from a pool: a server is taken for one request, connected to that request's
 * transport, and returned once the answer is written and the transport closed.
 */
export function mcpRoutes(
  domain: EdgeDomain,
  opts: { guard: Guard; limits: EdgeLimits; /** Where a cancel for a request held by another node goes (cancel-requests.ts). */ store?: ReplicatedStore },
): Koa.Middleware & { close(): Promise<void> } {
  const pool: Server[] = [];
  const inFlight = new InFlightRequests();
  const cancels = new CancelRelay(inFlight, opts.store);
  const logLevels = new LogLevels();
  const modern = modernLane(domain, opts.limits, inFlight, cancels);
  const router = new Router();

  const handle = async (ctx: Koa.Context, request: Request, message: unknown): Promise<Response> => {
    const refused = refusedToolCall(message);
    if (refused) return Response.json(refused);
    const cancelled = cancelledRequest(message);
    if (cancelled) await cancels.cancel(callerOf(ctx), cancelled.requestId, cancelled.reason);
    const server = pool.pop() ?? createMcpServer(domain, opts.limits, logLevels);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    // Closing this request's transport aborts its handler's signal, which cancels a run it waits for.
    const stop = cancellable(ctx, inFlight, message);
    try {
      await server.connect(transport);
      const answer = transport.handleRequest(request, { parsedBody: message, authInfo: authInfo(ctx) });
      const res = await Promise.race([answer, stop.aborted]);
      if (res === null) {
        await transport.close();
        return Response.json(cancelledAnswer(message));
      }
      // Read before the server goes back to the pool: the answer is written by then.
      return new Response(res.body ? await res.text() : null, { status: res.status, headers: res.headers });
    } finally {
      stop.done();
      await closeQuietly(server);
      if (pool.length < POOL_MAX) pool.push(server);
    }
  };

  router.post(MCP_PATH, scopeGuard(opts.guard), async (ctx) => {
    // Built once: the lane check and every message of a batch read the same request.
    const request = webRequest(ctx);
    if (!(await isLegacyRequest(request, ctx.request.body))) return modern.handle(ctx, authInfo(ctx), callerOf(ctx));
    const body: unknown = ctx.request.body;
    if (streamsProgress(ctx, body)) return stream(ctx, request, body);
    if (!Array.isArray(body)) {
      const res = await handle(ctx, request, body);
      ctx.status = res.status;
      res.headers.forEach((value, key) => ctx.set(key, value));
      ctx.body = await res.text(); // '' keeps a 202; null would make Koa answer 204
      return;
    }
    // A batch is answered by an array with one answer per request (JSON-RPC 2.0 §6), also when two
    // share an id: the SDK's transport matches answers to requests by id and would drop one, so
    // each message goes through a transport of its own.
    if (body.length === 0) {
      ctx.status = 400;
      ctx.body = { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request: an empty batch' }, id: null };
      return;
    }
    const answers: unknown[] = [];
    for (const message of body) {
      const res = await handle(ctx, request, message);
      const text = await res.text();
      if (text !== '') answers.push(...[JSON.parse(text) as unknown].flat());
    }
    ctx.status = answers.length > 0 ? 200 : 202;
    ctx.body = answers.length > 0 ? answers : '';
  });

  /**
   * A run_js with a progress token, from a client that takes an event stream: an SSE answer whose
   * notifications go out while the run goes on (progress.ts). Its own server and transport, not the
   * pool's: they live as long as the stream, and closing the transport (the client went away, or a
   * `notifications/cancelled` named the request) aborts the handler, which cancels the run.
   */
  const stream = async (ctx: Koa.Context, request: Request, message: unknown) => {
    const server = createMcpServer(domain, opts.limits, logLevels);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    const stop = cancellable(ctx, inFlight, message);
    await server.connect(transport);
    void stop.aborted.then(() => transport.close());
    const res = await transport.handleRequest(request, { parsedBody: message, authInfo: authInfo(ctx) });
    ctx.status = res.status;
    res.headers.forEach((value, key) => ctx.set(key, value));
    const finished = () => {
      stop.done();
      void closeQuietly(server);
    };
    if (!res.body) {
      finished();
      ctx.body = '';
      return;
    }
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
    body.once('close', finished);
    ctx.body = body;
  };

  const notAllowed = (ctx: Koa.Context) => {
    ctx.status = 405;
    ctx.set('Allow', 'POST');
    ctx.body = {
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Method not allowed: this server is stateless; send JSON-RPC with POST /mcp' },
      id: null,
    };
  };
  router.get(MCP_PATH, notAllowed);
  router.delete(MCP_PATH, notAllowed);
  // What the route serves (a CORS preflight is answered before this, in src/http/cors.ts).
  router.options(MCP_PATH, (ctx) => {
    ctx.status = 204;
    ctx.set('Allow', 'OPTIONS, POST');
  });
  return Object.assign(router.routes() as unknown as Koa.Middleware, {
    close: () => {
      cancels.close();
      return modern.close();
    },
  });
}

/** A single run_js call with a progress token whose client accepts an event stream (batches are answered as JSON). */
function streamsProgress(ctx: Koa.Context, body: unknown): boolean {
  const m = body as { method?: unknown; params?: { name?: unknown; _meta?: { progressToken?: unknown } } } | null;
  return (
    typeof m === 'object' && m !== null && !Array.isArray(m) && m.method === 'tools/call' && m.params?.name === TASK_TOOL &&
    progressTokenOf(m.params) !== undefined && ctx.get('accept').includes('text/event-stream') && refusedToolCall(m) === null
  );
}

/**
 * The bearer check for a JSON-RPC body: a tool call needs its tool's scope, reading a resource the read
 * scope (what list_packages needs), anything else a valid token.
 */
function scopeGuard(guard: Guard): Koa.Middleware {
  return (ctx, next) => {
    const body: unknown = ctx.request.body;
    const messages = Array.isArray(body) ? body : [body];
    const scopes = new Set<string>();
    for (const m of messages as Array<{ method?: unknown; params?: { name?: unknown } }>) {
      const scope =
        m?.method === 'tools/call' && typeof m.params?.name === 'string' ? toolScope(m.params.name) : m?.method === 'resources/read' ? READ_SCOPE : undefined;
      if (scope) scopes.add(scope);
    }
    const checks = scopes.size ? [...scopes].map(guard) : [guard('')];
    const run = (i: number): Promise<unknown> => (i < checks.length ? Promise.resolve(checks[i]!(ctx, () => run(i + 1))) : next());
    return run(0);
  };
}

/**
 * A `tools/call` whose name or arguments have the wrong type is the caller's mistake (-32602), not an
 * internal error with the SDK's schema dump (-32603).
 */
function refusedToolCall(message: unknown): object | null {
  const m = message as { id?: unknown; method?: unknown; params?: { name?: unknown; arguments?: unknown } } | null;
  if (typeof m !== 'object' || m === null || m.method !== 'tools/call' || m.id === undefined) return null;
  const args = m.params?.arguments;
  const problem =
    typeof m.params?.name !== 'string'
      ? 'params.name must be the name of a tool (a string)'
      : args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))
        ? `params.arguments of ${m.params.name} must be an object of named arguments`
        : null;
  return problem === null ? null : { jsonrpc: '2.0', id: m.id, error: { code: -32602, message: `Invalid params: ${problem}` } };
}

/**
 * What the web-standard transport reads of a request when the body is already parsed: the method, the
 * URL and the headers. A full undici `Request` (with its AbortSignal and body machinery) costs a few
 * percent of a stateless call, so the transport gets just those three.
 */
function webRequest(ctx: Koa.Context): Request {
  const headers = new Headers();
  for (const [key, value] of Object.entries(ctx.req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  const request: Pick<Request, 'method' | 'url' | 'headers'> = { method: 'POST', url: `http://${ctx.host || 'localhost'}${ctx.url}`, headers };
  return request as Request;
}

/**
 * What a cancelled request's own POST is answered with. MCP says a cancelled request gets no response,
 * but its HTTP request must end: an error the client has stopped waiting for (it ignores answers to
 * requests it cancelled) is the closest thing.
 */
function cancelledAnswer(message: unknown): object {
  const id = (message as { id?: unknown } | null)?.id ?? null;
  return { jsonrpc: '2.0', id, error: { code: -32800, message: 'Request cancelled' } };
}

/** The SDK hands this to tools as `extra.authInfo`; the subject travels in `extra`. */
function authInfo(ctx: Koa.Context): AuthInfo | undefined {
  const p = principalOf(ctx);
  if (!p) return undefined;
  const token = ctx.get('authorization').replace(/^Bearer\s+/i, '');
  return { token, clientId: p.clientId ?? '', scopes: p.scopes, extra: { subject: p.subject } };
}

/**
 * Closing a server makes the SDK build a "Connection closed" McpError for the requests still waiting on
 * an answer. After its one answer no request waits, so that error is never seen, but capturing its stack
 * trace was ~30 µs, a twentieth of a stateless `tools/call` (profiled). The error is made synchronously
 * inside close(), so the limit is back before anything else runs.
 */
function closeQuietly(server: Server): Promise<void> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return server.close();
  } finally {
    Error.stackTraceLimit = limit;
  }
}
