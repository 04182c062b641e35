import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from 'pino';

const VALID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (the caller's `X-Request-Id` when sane, so one id follows a request across
 * nodes), echoes it back, and logs one line per request.
 */
export function requestIds(log: Logger): Koa.Middleware {
  return async (ctx, next) => {
    const given = ctx.get('x-request-id');
    const id = VALID.test(given) ? given : randomUUID();
    ctx.state.requestId = id;
    ctx.set('X-Request-Id', id);
    const start = performance.now();
    try {
      await next();
    } finally {
      if (log.isLevelEnabled('info')) {
        log.info(
          { requestId: id, method: ctx.method, path: ctx.path, status: ctx.status, ms: +(performance.now() - start).toFixed(2) },
          'request',
        );
      }
    }
  };
}
