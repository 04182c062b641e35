import type Koa from 'koa';
import type { AuthorizationServerParts } from './authorization-server.ts';
import { InvalidRequestError } from './oauth-errors.ts';
import type { Form } from './oauth-params.ts';
import { presentedFamily } from './refresh-tokens.ts';

export type RevokeParts = Pick<AuthorizationServerParts, 'store' | 'clients' | 'tokens' | 'nowSecs' | 'onToken'>;

/**
 * `/oauth/revoke` (RFC 7009): a refresh token revokes its whole family (and the access tokens issued
 * from it), an access token its `jti`, as replicated entries every node enforces once applied.
 * Always 200 for tokens we do not know or that belong to another client (§2.2).
 */
export async function revoke(p: RevokeParts, ctx: Koa.Context, form: Form): Promise<void> {
  const client = await p.clients.authenticate(ctx, form);
  if (!form.token) throw new InvalidRequestError('token is required');
  await p.store.sync();
  const family = presentedFamily(p.store, form.token, client.clientId);
  if (family) {
    await p.store.propose({ type: 'oauth.revokeFamily', familyId: family.id, now: p.nowSecs() });
    p.onToken?.('revoked');
    return;
  }
  const claims = await p.tokens.verifyClaims(form.token).catch(() => null);
  if (claims && claims.clientId === client.clientId) {
    await p.store.propose({ type: 'oauth.revokeAccess', access: { jti: claims.jti, exp: claims.expiresAt } });
    p.onToken?.('revoked');
  }
}
