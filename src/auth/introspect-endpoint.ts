import type Koa from 'koa';
import type { AuthorizationServerParts } from './authorization-server.ts';
import { InvalidClientError, InvalidRequestError } from './oauth-errors.ts';
import type { Form } from './oauth-params.ts';
import { presentedFamily } from './refresh-tokens.ts';
import { sha256 } from './secrets.ts';

export type IntrospectParts = Pick<AuthorizationServerParts, 'issuer' | 'resource' | 'store' | 'clients' | 'tokens' | 'nowSecs'>;

/** `/oauth/introspect` (RFC 7662), for confidential clients: configured ones (resource servers) any access token, others their own tokens only. */
export async function introspect(p: IntrospectParts, ctx: Koa.Context, form: Form): Promise<Record<string, unknown>> {
  const client = await p.clients.authenticate(ctx, form);
  if (client.authMethod === 'none') throw new InvalidClientError('introspection needs client authentication');
  if (!form.token) throw new InvalidRequestError('token is required');
  await p.store.sync();
  const family = presentedFamily(p.store, form.token, client.clientId);
  if (family) {
    const { record } = family;
    if (record.revoked || record.current !== sha256(form.token) || record.expiresAt <= p.nowSecs()) return { active: false };
    return { active: true, token_type: 'refresh_token', scope: record.scope, client_id: record.clientId, sub: record.subject, exp: record.expiresAt, iss: p.issuer };
  }
  const claims = await p.tokens.verify(form.token).catch(() => null);
  // RFC 7662 §4: only a configured client (a resource server) or the token's own client learns
  // about it; to any other registered client it is as good as unknown.
  if (!claims || (claims.clientId !== client.clientId && !p.clients.isConfigured(client.clientId))) return { active: false };
  return {
    active: true,
    token_type: 'Bearer',
    scope: claims.scopes.join(' '),
    client_id: claims.clientId,
    sub: claims.subject,
    exp: claims.expiresAt,
    iss: p.issuer,
    aud: p.resource.resource,
  };
}
