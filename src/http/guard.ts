import type Koa from 'koa';

/** Who is calling, as set by the auth gate on `ctx.state.principal` (docs/architecture.md, "Auth"). */
export interface Principal {
  subject: string;
  scopes: string[];
  clientId: string | null;
}

/** The seam src/auth plugs into: its own routes, and a bearer check per required scope. */
export interface AuthGate {
  /** `/.well-known/*`, `/oauth/*`; mounted before every other route. */
  routes(): Koa.Middleware;
  /** Sets `ctx.state.principal`, or answers 401/403 with WWW-Authenticate. `''` = any valid token. */
  requireBearer(scope: string): Koa.Middleware;
}

/** Middleware that lets a request through only with the given scope; a no-op when auth is off. */
export type Guard = (scope: string) => Koa.Middleware;

const open: Koa.Middleware = (_ctx, next) => next();

export function guardOf(auth: AuthGate | undefined): Guard {
  if (!auth) return () => open;
  const cache = new Map<string, Koa.Middleware>();
  return (scope) => {
    let mw = cache.get(scope);
    if (!mw) cache.set(scope, (mw = auth.requireBearer(scope)));
    return mw;
  };
}

export function principalOf(ctx: Koa.Context): Principal | undefined {
  return ctx.state.principal as Principal | undefined;
}
