import type Koa from 'koa';
import type { AuthGate, Principal } from '../auth/index.ts';

export type { AuthGate, Principal } from '../auth/index.ts';

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
