import Router from '@koa/router';

export interface Readiness {
  ready: boolean;
  /** Why not ready, for operators (e.g. "no leader", "catching up"). */
  reason?: string;
}

/**
 * `/healthz` answers 200 while the process serves HTTP. `/readyz` asks `readiness`: for one node that
 * is "the store is open and the domain started"; the cluster replaces it with "has a leader and is
 * caught up", so a load balancer only routes to nodes that can answer.
 */
export function healthRoutes(nodeId: string, readiness: () => Readiness): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok', node: nodeId };
  });
  router.get('/readyz', (ctx) => {
    const r = readiness();
    ctx.status = r.ready ? 200 : 503;
    ctx.body = r.ready ? { status: 'ready', node: nodeId } : { status: 'not_ready', node: nodeId, reason: r.reason ?? null };
  });
  return router;
}
