import Router from '@koa/router';
import type Koa from 'koa';
import type { Metrics } from './metrics.ts';

/**
 * `GET /metrics` in Prometheus text format. `guard` is a no-op when the endpoint is public
 * (`metricsPublic`), else the bearer check of `/api` (Prometheus can fetch a client_credentials token).
 */
export function metricsRoute(metrics: Metrics, guard: Koa.Middleware): Koa.Middleware {
  const router = new Router();
  router.get('/metrics', guard, async (ctx) => {
    ctx.type = metrics.contentType;
    ctx.body = await metrics.text();
  });
  return router.routes() as unknown as Koa.Middleware;
}
