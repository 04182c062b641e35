import type Koa from 'koa';

/**
 * CORS for browser-based clients of /mcp, /api and /status.json (`--cors-origins`; none by default,
 * so no page of another origin can read an answer). The OAuth endpoints answer CORS themselves (`*`,
 * they take no cookies). A preflight is answered here, before auth and routing: it carries no
 * credentials, and the browser only wants to know what the real request may send.
 */
const SERVED = /^\/(mcp|api(\/.*)?|status\.json)$/;
/** What the real request may carry: bearer tokens, JSON or a raw script, MCP's headers, ours (Raftbox-Session: a load balancer's routing hint). */
const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Accept', 'Mcp-Session-Id', 'Mcp-Protocol-Version', 'Last-Event-ID', 'Idempotency-Key', 'X-Request-Id', 'Raftbox-Session'];
/** What a page may read from the answer: MCP's session headers, the auth challenge, back-off, the request id. */
const EXPOSED_HEADERS = ['Mcp-Session-Id', 'Mcp-Protocol-Version', 'WWW-Authenticate', 'Retry-After', 'X-Request-Id'];
const PREFLIGHT_CACHE_SECS = 600;

export function corsPolicy(origins: readonly string[]): Koa.Middleware {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (!origin || !SERVED.test(ctx.path) || !(any || allowed.has(origin))) return next();
    ctx.vary('Origin');
    ctx.set('Access-Control-Allow-Origin', any ? '*' : origin);
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', ctx.path === '/mcp' ? 'POST' : 'GET, POST, DELETE');
      ctx.set('Access-Control-Allow-Headers', ALLOWED_HEADERS.join(', '));
      ctx.set('Access-Control-Max-Age', String(PREFLIGHT_CACHE_SECS));
      ctx.status = 204;
      return;
    }
    ctx.set('Access-Control-Expose-Headers', EXPOSED_HEADERS.join(', '));
    await next();
  };
}
