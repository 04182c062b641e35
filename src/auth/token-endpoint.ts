import type Koa from 'koa';
import type { IssuedAccessToken } from './access-tokens.ts';
import type { AuthorizationServerParts } from './authorization-server.ts';
import type { Client } from './client-registry.ts';
import {
  InvalidGrantError,
  InvalidRequestError,
  InvalidTargetError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
} from './oauth-errors.ts';
import type { Form } from './oauth-params.ts';
import { verifierMatches } from './pkce.ts';
import { wrongResource } from './protected-resource.ts';
import { familyIdOf, newRefreshToken, nextRefreshToken } from './refresh-tokens.ts';
import { narrowScope } from './scopes.ts';
import { sha256 } from './secrets.ts';

export type TokenParts = Pick<AuthorizationServerParts, 'resource' | 'store' | 'clients' | 'tokens' | 'lifetimes' | 'nowSecs'>;

const GRANTS = { authorization_code: true, refresh_token: true, client_credentials: true };

/**
 * `/oauth/token`: the three grants. A code is redeemed and a refresh token rotated by a replicated
 * compare-and-set, so two nodes cannot both honour one; a code or refresh token seen twice revokes
 * what it gave out.
 */
export class TokenEndpoint {
  private readonly p: TokenParts;
  constructor(p: TokenParts) {
    this.p = p;
  }

  async grant(ctx: Koa.Context, form: Form): Promise<Record<string, unknown>> {
    const client = await this.p.clients.authenticate(ctx, form);
    if (!form.grant_type) throw new InvalidRequestError('grant_type is required');
    if (!client.grantTypes.includes(form.grant_type)) {
      throw form.grant_type in GRANTS
        ? new UnauthorizedClientError(`this client may not use ${form.grant_type}`)
        : new UnsupportedGrantTypeError(`grant_type ${form.grant_type} is not supported`);
    }
    if (form.resource !== undefined && !this.p.resource.accepts(form.resource)) {
      throw new InvalidTargetError(wrongResource(form.resource, this.p.resource.resource));
    }
    await this.p.store.sync(); // codes and refresh tokens may come from another node
    switch (form.grant_type) {
      case 'authorization_code':
        return this.redeemCode(client, form);
      case 'refresh_token':
        return this.refresh(client, form);
      case 'client_credentials':
        return this.clientCredentials(client, form);
      default:
        throw new UnsupportedGrantTypeError(`grant_type ${form.grant_type} is not supported`);
    }
  }

  private async redeemCode(client: Client, form: Form): Promise<Record<string, unknown>> {
    if (!form.code) throw new InvalidRequestError('code is required');
    const codeHash = sha256(form.code);
    const code = this.p.store.code(codeHash);
    if (!code || code.clientId !== client.clientId) throw new InvalidGrantError('the code is invalid');
    const now = this.p.nowSecs();
    if (!code.redeemed) {
      if (form.redirect_uri !== undefined && form.redirect_uri !== code.redirectUri) {
        throw new InvalidGrantError('redirect_uri does not match the authorization request');
      }
      if (!verifierMatches(form.code_verifier, code.codeChallenge)) throw new InvalidGrantError('code_verifier does not match the code challenge');
      if (code.expiresAt <= now) throw new InvalidGrantError('the code has expired');
    }
    const grant = { subject: code.subject, clientId: client.clientId, scope: code.scope };
    const access = await this.p.tokens.issue(grant);
    const refresh = client.grantTypes.includes('refresh_token') ? newRefreshToken() : null;
    // The compare-and-set: of two nodes redeeming the same code, one wins; a redeemed code coming
    // back revokes what the first redeem got.
    const result = await this.p.store.propose({
      type: 'oauth.redeemCode',
      codeHash,
      now,
      access: { jti: access.jti, exp: access.exp },
      family: refresh && { id: refresh.familyId, refreshHash: sha256(refresh.token), expiresAt: now + this.p.lifetimes.refreshTtlSecs },
    });
    if (!result.ok) throw new InvalidGrantError(result.reason === 'reused' ? 'the code has already been used' : 'the code is invalid');
    return tokenResponse(access, grant.scope, refresh?.token);
  }

  private async refresh(client: Client, form: Form): Promise<Record<string, unknown>> {
    const presented = form.refresh_token;
    if (!presented) throw new InvalidRequestError('refresh_token is required');
    const familyId = familyIdOf(presented);
    const family = this.p.store.family(familyId);
    if (!family || family.clientId !== client.clientId) throw new InvalidGrantError('the refresh token is invalid');
    // A refresh may narrow the scope of the new access token, never widen it (RFC 6749 §6).
    const scope = form.scope === undefined ? family.scope : narrowScope(form.scope, family.scope);
    const now = this.p.nowSecs();
    const access = await this.p.tokens.issue({ subject: family.subject, clientId: client.clientId, scope });
    const next = nextRefreshToken(familyId);
    const result = await this.p.store.propose({
      type: 'oauth.rotateRefresh',
      familyId,
      presentedHash: sha256(presented),
      nextHash: sha256(next),
      now,
      expiresAt: now + this.p.lifetimes.refreshTtlSecs,
      access: { jti: access.jti, exp: access.exp },
    });
    if (!result.ok) {
      throw new InvalidGrantError(result.reason === 'reused' ? 'refresh token reuse detected; the grant is revoked' : `the refresh token is ${result.reason === 'unknown' ? 'invalid' : result.reason}`);
    }
    return tokenResponse(access, scope, next);
  }

  private async clientCredentials(client: Client, form: Form): Promise<Record<string, unknown>> {
    if (client.authMethod === 'none' || !client.subject) throw new UnauthorizedClientError('client_credentials needs a configured machine client');
    const scope = form.scope === undefined ? client.scope : narrowScope(form.scope, client.scope);
    const access = await this.p.tokens.issue({ subject: client.subject, clientId: client.clientId, scope });
    return tokenResponse(access, scope);
  }
}

function tokenResponse(access: IssuedAccessToken, scope: string, refreshToken?: string): Record<string, unknown> {
  return {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    scope,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
  };
}
