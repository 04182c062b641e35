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
import { JWT_BEARER_GRANT } from './types.ts';

export type TokenParts = Pick<AuthorizationServerParts, 'resource' | 'store' | 'clients' | 'tokens' | 'lifetimes' | 'nowSecs' | 'identityAssertions'>;

type GrantHandler = (client: Client, form: Form) => Promise<Record<string, unknown>>;

/**
 * `/oauth/token`: the grants. A code is redeemed and a refresh token rotated by a replicated
 * compare-and-set, so two nodes cannot both honour one; a code or refresh token seen twice revokes
 * what it gave out. The jwt-bearer grant (an enterprise IdP's ID-JAG) is served when IdPs are configured.
 */
export class TokenEndpoint {
  private readonly p: TokenParts;
  /** The grant types served, each by its method. */
  private readonly grants: Map<string, GrantHandler>;
  constructor(p: TokenParts) {
    this.p = p;
    this.grants = new Map<string, GrantHandler>([
      ['authorization_code', (c, f) => this.redeemCode(c, f)],
      ['refresh_token', (c, f) => this.refresh(c, f)],
      ['client_credentials', (c, f) => this.clientCredentials(c, f)],
    ]);
    if (p.identityAssertions) this.grants.set(JWT_BEARER_GRANT, (c, f) => this.identityAssertion(c, f));
  }

  /** What the metadata advertises as `grant_types_supported`. */
  get grantTypes(): string[] {
    return [...this.grants.keys()];
  }

  async grant(ctx: Koa.Context, form: Form): Promise<Record<string, unknown>> {
    const client = await this.p.clients.authenticate(ctx, form);
    if (!form.grant_type) throw new InvalidRequestError('grant_type is required');
    const grant = this.grants.get(form.grant_type);
    if (!grant) throw new UnsupportedGrantTypeError(`grant_type ${form.grant_type} is not supported`);
    if (!client.grantTypes.includes(form.grant_type)) throw new UnauthorizedClientError(`this client may not use ${form.grant_type}`);
    if (form.resource !== undefined && !this.p.resource.accepts(form.resource)) {
      throw new InvalidTargetError(wrongResource(form.resource, this.p.resource.resource));
    }
    await this.p.store.sync(); // codes and refresh tokens may come from another node
    return grant(client, form);
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

  /**
   * No refresh token: the client gets a fresh ID-JAG from the IdP instead, so the IdP's policy (a user
   * removed, a client no longer allowed) is applied again at least once per access-token lifetime.
   */
  private async identityAssertion(client: Client, form: Form): Promise<Record<string, unknown>> {
    // An ID-JAG is a bearer value: bound to a client that proves itself, a stolen one is of no use alone.
    if (client.authMethod === 'none') throw new UnauthorizedClientError('the jwt-bearer grant needs client authentication (a secret or private_key_jwt)');
    const grant = await this.p.identityAssertions!.redeem(form.assertion, client, form.scope);
    return tokenResponse(await this.p.tokens.issue(grant), grant.scope);
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
