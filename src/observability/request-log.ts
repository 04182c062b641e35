import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { withRequestId } from './request-context.ts';

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;
// Routine traffic a healthy cluster makes all the time (heartbeats, probes, scrapes, the status
// page's poll of /status.json and of every member's /cluster/status) is logged at debug, so `info` stays readable; it is still one line per request.
const ROUTINE = /^\/(healthz|readyz|metrics|status\.json|cluster\/status)$/;

/**
 * Gives each request an id (the caller's `X-Request-Id` when sane, so one id follows a request across
 * nodes), echoes it, runs the rest of the request in its context, and logs one line when the response
 * is done: method, path (never the query: it may carry codes or state), status, ms, request id. The
 * line is written on the response's close.
 */
export function requestLog(log: Logger): Koa.Middleware {
  return (ctx, next) => {
    const id = requestIdOf(ctx.get('x-request-id'));
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    const start = performance.now();
    const path = ctx.path;
    const level = ROUTINE.test(path) ? 'debug' : 'info';
    if (log.isLevelEnabled(level)) {
      ctx.res.once('close', () => {
        const aborted = !ctx.res.writableFinished;
        log[level]({ requestId: id, method: ctx.method, path, status: ctx.res.statusCode, ms: +(performance.now() - start).toFixed(2), ...(aborted ? { aborted } : {}) }, 'request');
      });
    }
    return withRequestId(id, next);
  };
}

/**
 * Runs a call a peer made on a request's behalf (a follower forwarding a proposal) under that
 * request's id, and logs it like a request, so one id finds the request on every node it touched.
 */
export function peerCallLog(log: Logger) {
  return async <T>(op: string, headers: Record<string, string>, serve: () => Promise<T>): Promise<T> => {
    const id = requestIdOf(headers['x-request-id']);
    const start = performance.now();
    let ok = false;
    try {
      const out = await withRequestId(id, serve);
      ok = true;
      return out;
    } finally {
      if (log.isLevelEnabled('info')) log.info({ requestId: id, peerCall: op, ok, ms: +(performance.now() - start).toFixed(2) }, 'peer call');
    }
  };
}

/** The caller's request id when it is sane, else a new one. */
function requestIdOf(given: string | undefined): string {
  return given !== undefined && VALID.test(given) ? given : randomUUID();
}
