import { Readable } from 'node:stream';
import type Koa from 'koa';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { createMcpHandler } from '@modelcontextprotocol/server';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import type { CancelRelay } from './cancel-requests.ts';
import { cancellable, cancelledRequest, type InFlightRequests } from './in-flight.ts';
import { createModernServer } from './modern-server.ts';
import { subjectOf } from './server.ts';
import { listensForTasks, TaskSubscriptions } from './task-subscriptions.ts';
import { withServedVersions } from './revision-2026-07-28.ts';

/** Open `subscriptions/listen` streams per node; one more is refused by the SDK. */
const MAX_SUBSCRIPTIONS = 256;
/** An SSE comment this often keeps a quiet listen stream open through proxies and idle timeouts. */
const KEEP_ALIVE_MS = 15_000;

export interface ModernLane {
  /** Answers one 2026-07-28 POST whose body the Koa body parser has already read; `caller` as InFlightRequests keys it. */
  handle(ctx: Koa.Context, authInfo: AuthInfo | undefined, caller: string): Promise<void>;
  /** Ends open listen streams gracefully (the SDK sends each its closing result). */
  close(): Promise<void>;
}

/**
 * POST /mcp for 2026-07-28 requests: the v2 SDK's `createMcpHandler` with a server per request (the SDK
 * validates the envelope and the routing headers before the server sees the request), legacy traffic
 * refused here because mcpRoutes sends it to the v1 lane. JSON answers, except `subscriptions/listen`,
 * whose answer is an SSE stream by definition (a listen for task status pushes is answered by
 * task-subscriptions.ts, the others by the SDK).
 */
export function modernLane(domain: EdgeDomain, limits: EdgeLimits, inFlight: InFlightRequests, cancels: CancelRelay): ModernLane {
  const handler = createMcpHandler(() => createModernServer(domain, limits), {
    legacy: 'reject',
    responseMode: 'auto',
    maxSubscriptions: MAX_SUBSCRIPTIONS,
    keepAliveMs: KEEP_ALIVE_MS,
  });
  const taskSubscriptions = new TaskSubscriptions(domain, KEEP_ALIVE_MS);
  return {
    async handle(ctx, authInfo, caller) {
      const body: unknown = ctx.request.body;
      if (listensForTasks(body) && (await taskSubscriptions.handle(ctx, subjectOf(authInfo), body))) return;
      const cancelled = cancelledRequest(ctx.request.body);
      if (cancelled) await cancels.cancel(caller, cancelled.requestId, cancelled.reason);
      // The client closing its connection cancels the request (2026-07-28: closing the stream is the
      // cancellation), and so does a `notifications/cancelled` naming it that reaches any node.
      const stop = cancellable(ctx, inFlight, ctx.request.body);
      const headers = new Headers();
      for (const [key, value] of Object.entries(ctx.req.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const request = new Request(`http://${ctx.host || 'localhost'}${ctx.url}`, { method: 'POST', headers, signal: stop.signal });
      let res: Response;
      try {
        res = await handler.fetch(request, { parsedBody: ctx.request.body, ...(authInfo ? { authInfo } : {}) });
      } finally {
        stop.done();
      }
      ctx.status = res.status;
      res.headers.forEach((value, key) => ctx.set(key, value));
      if (res.body && res.headers.get('content-type')?.startsWith('text/event-stream')) {
        ctx.body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
        return;
      }
      const text = res.body ? await res.text() : ''; // '' keeps a 202; null would make Koa answer 204
      const method = (ctx.request.body as { method?: unknown } | undefined)?.method;
      // Only a discovery answer or a 400 can carry a version list; everything else goes out as the SDK wrote it.
      const versioned = text && (method === 'server/discover' || res.status === 400);
      ctx.body = versioned ? JSON.stringify(withServedVersions(JSON.parse(text))) : text;
    },
    close: () => {
      taskSubscriptions.close();
      return handler.close();
    },
  };
}
