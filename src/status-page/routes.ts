import Router from '@koa/router';
import type Koa from 'koa';
import type { ClusterStatus } from '../cluster/index.ts';
import type { EdgeDomain } from '../api/domain.ts';
import { principalOf, type Guard } from '../http/index.ts';
import { StatusReport } from './node-status.ts';
import { STATUS_PAGE } from './page.ts';

/**
 * `GET /` (the page shell, public: it holds no data) and `GET /status.json` (protected like `/api`:
 * a `raftbox:read` bearer token when OAuth is on; sessions and executions are the caller's own).
 */
export function statusPageRoutes(opts: { cluster: () => ClusterStatus; load: () => { running: number; queued: number }; domain: EdgeDomain; guard: Guard }): Koa.Middleware {
  const report = new StatusReport(opts.cluster, opts.domain, opts.load);
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    // The inline script is the page's only script; nothing may frame it or load anything else.
    ctx.set('Content-Security-Policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
    ctx.body = STATUS_PAGE;
  });
  router.get('/status.json', opts.guard('raftbox:read'), async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await report.build(principalOf(ctx)?.subject);
  });
  return router.routes() as unknown as Koa.Middleware;
}
