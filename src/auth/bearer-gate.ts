import type Koa from 'koa';
import type { ProtectedResource } from './protected-resource.ts';
import { TokenRejected, type Principal, type TokenObserver, type TokenVerifier } from './types.ts';

/**
 * RFC 6750 bearer enforcement with the MCP authorization spec's discovery hints: every 401/403 names
 * the protected-resource metadata and the scope the route needs. `scope` '' accepts any valid token.
 * The principal goes to `ctx.state.principal`; the MCP edge turns it into the SDK's `AuthInfo`.
 */
export function bearerGate(verifier: TokenVerifier, resource: ProtectedResource, onToken?: TokenObserver): (scope: string) => Koa.Middleware {
  return (scope) => async (ctx, next) => {
    const challenge = (error?: { code: string; description: string }) =>
      [
        `Bearer resource_metadata="${resource.metadataUrl(ctx.path)}"`,
        ...(scope ? [`scope="${scope}"`] : []),
        ...(error ? [`error="${error.code}"`, `error_description="${error.description.replace(/["\\]/g, '')}"`] : []),
      ].join(', ');
    const refuse = (status: number, code: string | null, message: string) => {
      ctx.status = status;
      ctx.set('WWW-Authenticate', challenge(code ? { code, description: message } : undefined));
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: code ?? 'unauthorized', message };
    };

    // OAuth 2.1 §5.1.1 / MCP: tokens never travel in URLs (they end up in logs and Referer headers).
    if (ctx.query.access_token !== undefined) {
      return refuse(400, 'invalid_request', 'access tokens are not accepted in the query string; use the Authorization header');
    }
    const match = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(ctx.get('authorization'));
    if (!match) return refuse(401, null, 'a bearer token is required');
    const token = match[1]!;

    let verified;
    try {
      verified = await verifier.verify(token);
    } catch (err) {
      if (err instanceof TokenRejected) {
        onToken?.('rejected');
        return refuse(401, 'invalid_token', err.message);
      }
      throw err;
    }
    if (scope && !verified.scopes.includes(scope)) {
      return refuse(403, 'insufficient_scope', `this needs the ${scope} scope`);
    }
    const principal: Principal = { subject: verified.subject, scopes: verified.scopes, clientId: verified.clientId };
    ctx.state.principal = principal;
    await next();
  };
}
