import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { withRequestId } from './request-context.ts';

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;
// Routine traffic a healthy cluster makes all the time (heartbeats, probes, scrapes, the status
// page's poll) is logged at debug, so `info` stays readable; it is still one line per request.
const ROUTINE = /^\/(raft\/(msg|snap)|healthz|readyz|metrics|status\.json)$/;

/**
 * Gives each request an id (the caller's `X-Request-Id` when sane, so one id follows a request across
 * nodes), echoes it, runs the rest of the request in its context, and logs one line when the response
 * is done: method, path (never the query: it may carry codes or state), status, ms, request id. The
 * line is written on the response's close, so `/raft/*` requests answered outside Koa are logged too.
 */
export function requestLog(log: Logger): Koa.Middleware {
  return (ctx, next) => {
    const given = ctx.get('x-request-id');
    const id = VALID.test(given) ? given : randomUUID();
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
