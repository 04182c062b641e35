import Router from '@koa/router';
import type Koa from 'koa';
import type { ClusterStatus } from '../cluster/index.ts';
import type { EdgeDomain } from '../api/domain.ts';
import type { BrowserSignIn } from '../auth/index.ts';
import { principalOf, type Guard } from '../http/index.ts';
import { StatusReport } from './node-status.ts';
import { STATUS_PAGE } from './page.ts';

/**
 * `GET /` (the page shell, public: it holds no data) and `GET /status.json` (protected like `/api`:
 * a `raftbox:read` bearer token when OAuth is on; sessions and executions are the caller's own).
 */
export function statusPageRoutes(opts: {
  cluster: () => ClusterStatus;
  load: () => { running: number; queued: number };
  domain: EdgeDomain;
  guard: Guard;
  /** An external provider's sign-in for the page (AuthGate.browserSignIn). */
  signIn?: BrowserSignIn;
}): Koa.Middleware {
  const report = new StatusReport(opts.cluster, opts.domain, opts.load);
  const router = new Router();
  // The page posts the code to the provider's token endpoint itself: that origin is the one it may reach besides this node.
  const connect = opts.signIn ? `'self' ${new URL(opts.signIn.tokenEndpoint).origin}` : "'self'";
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    // The inline script is the page's only script; nothing may frame it or load anything else.
    ctx.set('Content-Security-Policy', `default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src ${connect}; frame-ancestors 'none'`);
    ctx.body = STATUS_PAGE;
  });
  // Public, like the provider's own metadata: what the page needs to send a user to the provider.
  router.get('/status-page/sign-in.json', (ctx) => {
    if (!opts.signIn) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', message: 'this node has no status-page client at an external provider (oauth.statusPageClientId)' };
      return;
    }
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = { authorization_endpoint: opts.signIn.authorizationEndpoint, token_endpoint: opts.signIn.tokenEndpoint, client_id: opts.signIn.clientId };
  });
  router.get('/status.json', opts.guard('raftbox:read'), async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await report.build(principalOf(ctx)?.subject);
  });
  return router.routes() as unknown as Koa.Middleware;
}
