import type Koa from 'koa';
import { Router } from '@koa/router';
import type { OAuthMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { AccessTokens, IssuedAccessToken } from './access-tokens.ts';
import { ClientMetadataError } from './client-metadata-documents.ts';
import type { Client, ClientRegistry } from './client-registry.ts';
import { TICKET_TTL_SECS, type ConsentTickets } from './consent-ticket.ts';
import type { FailureBackoff } from './failure-backoff.ts';
import {
  InvalidClientError,
  InvalidGrantError,
  InvalidRequestError,
  InvalidScopeError,
  InvalidTargetError,
  OAuthError,
  UnauthorizedClientError,
  UnsupportedGrantTypeError,
  UnsupportedResponseTypeError,
  AccessDeniedError,
  oauthErrors,
} from './oauth-errors.ts';
import type { OAuthStore } from './oauth-state.ts';
import { checkChallenge, verifierMatches } from './pkce.ts';
import type { ProtectedResource } from './protected-resource.ts';
import { requestBody } from './request-body.ts';
import { burnPasswordCheck, randomToken, sha256, verifySecret } from './secrets.ts';
import {
  csrfMatches,
  issueCsrf,
  renderConsent,
  renderError,
  renderSignIn,
  sendPage,
  type AuthorizationRequest,
  type PageView,
} from './sign-in-page.ts';
import type { SigningKeys } from './signing-keys.ts';
import { ASYMMETRIC_JWS_ALGS, SUPPORTED_SCOPES, type TokenObserver } from './types.ts';

/** An operator-configured person who can sign in at `/oauth/authorize`. */
export interface User {
  username: string;
  /** `raftbox hash-password` output. */
  passwordHash: string;
  /** Owner id of what the user's tokens run; defaults to the username. */
  subject?: string;
}

export interface Lifetimes {
  codeTtlSecs: number;
  refreshTtlSecs: number;
}

export interface AuthorizationServerParts {
  issuer: string;
  resource: ProtectedResource;
  store: OAuthStore;
  clients: ClientRegistry;
  keys: SigningKeys;
  tokens: AccessTokens;
  tickets: ConsentTickets;
  users: User[];
  lifetimes: Lifetimes;
  nowSecs: () => number;
  /** Per account: wrong passwords slow the next sign-in down. */
  signInBackoff: FailureBackoff;
  onToken?: TokenObserver;
}

/** A client or redirect URI we cannot trust: answered with a page, never a redirect (RFC 6749 §4.1.2.1). */
class UntrustedRedirect extends Error {}

/** An error to report to the client at its (validated) redirect URI. */
class RedirectedError extends Error {
  readonly error: OAuthError;
  readonly redirectUri: string;
  readonly state: string | undefined;
  constructor(
    error: OAuthError,
    redirectUri: string,
    state: string | undefined,
  ) {
    super(error.message);
    this.error = error;
    this.redirectUri = redirectUri;
    this.state = state;
  }
}

type Form = Record<string, string>;

/** The built-in OAuth 2.1 authorization server: metadata, registration, authorize, token, revoke, introspect, JWKS. */
export class AuthorizationServer {
  private readonly users: Map<string, User>;

  private readonly p: AuthorizationServerParts;
  constructor(p: AuthorizationServerParts) {
    this.p = p;
    this.users = new Map(p.users.map((u) => [u.username, u]));
  }

  metadata(): OAuthMetadata & Record<string, unknown> {
    const base = this.p.issuer;
    const clientAuth = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
    return {
      issuer: base,
      authorization_endpoint: `${base}/oauth/authorize`,
      token_endpoint: `${base}/oauth/token`,
      registration_endpoint: `${base}/oauth/register`,
      revocation_endpoint: `${base}/oauth/revoke`,
      introspection_endpoint: `${base}/oauth/introspect`,
      jwks_uri: `${base}/oauth/jwks`,
      scopes_supported: [...SUPPORTED_SCOPES],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
      token_endpoint_auth_methods_supported: [...clientAuth, 'none'],
      token_endpoint_auth_signing_alg_values_supported: [...ASYMMETRIC_JWS_ALGS],
      revocation_endpoint_auth_methods_supported: [...clientAuth, 'none'],
      introspection_endpoint_auth_methods_supported: clientAuth,
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      client_id_metadata_document_supported: this.p.clients.acceptsMetadataDocuments,
    };
  }

  routes(): Koa.Middleware {
    const router = new Router();
    const api = [cors, oauthErrors] as const;

    router.get('/.well-known/oauth-authorization-server', cors, (ctx) => {
      ctx.set('Cache-Control', 'public, max-age=300');
      ctx.body = this.metadata();
    });
    router.get('/oauth/jwks', cors, (ctx) => {
      ctx.set('Cache-Control', 'public, max-age=60');
      ctx.body = this.p.keys.jwks();
    });
    router.options(/^\/oauth\/(register|token|revoke|introspect)$/, cors);
    router.post('/oauth/register', ...api, async (ctx) => {
      ctx.status = 201;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await this.p.clients.register(await requestBody(ctx), this.p.nowSecs());
    });
    router.post('/oauth/token', ...api, async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.set('Pragma', 'no-cache');
      const form = await formOf(ctx);
      ctx.body = await this.token(ctx, form);
      this.p.onToken?.(form.grant_type === 'refresh_token' ? 'refreshed' : 'issued');
    });
    router.post('/oauth/revoke', ...api, async (ctx) => {
      await this.revoke(ctx, await formOf(ctx));
      ctx.status = 200;
      ctx.body = {};
    });
    router.post('/oauth/introspect', ...api, async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await this.introspect(ctx, await formOf(ctx));
    });
    router.get('/oauth/authorize', (ctx) => this.authorizePage(ctx));
    router.post('/oauth/authorize', (ctx) => this.authorizeSubmit(ctx));
    return router.routes() as Koa.Middleware;
  }

  // ---- /oauth/authorize --------------------------------------------------------------------------

  private async authorizePage(ctx: Koa.Context): Promise<void> {
    let query: Form;
    try {
      query = queryOf(ctx);
    } catch (err) {
      return sendPage(ctx, 400, renderError(err instanceof Error ? err.message : 'malformed request'));
    }
    await this.p.store.sync(); // the client may have registered on another node a moment ago
    await this.withAuthorizationRequest(ctx, query, async (client, request) => {
      sendPage(ctx, 200, renderSignIn(this.view(ctx, client, request)));
    });
  }

  private async authorizeSubmit(ctx: Koa.Context): Promise<void> {
    let form: Form;
    try {
      form = await formOf(ctx, (message) => new UntrustedRedirect(message));
    } catch (err) {
      return sendPage(ctx, 400, renderError(err instanceof Error ? err.message : 'malformed request'));
    }
    if (!csrfMatches(ctx, form.csrf)) {
      return sendPage(ctx, 403, renderError('This form has expired or was not sent by the raftbox sign-in page. Start again from the application.'));
    }
    await this.p.store.sync();
    await this.withAuthorizationRequest(ctx, form, async (client, request) => {
      const view = this.view(ctx, client, request);
      if (form.step === 'signin') {
        const waitMs = this.p.signInBackoff.waitMs(`user:${form.username ?? ''}`);
        if (waitMs > 0) {
          ctx.set('Retry-After', String(Math.ceil(waitMs / 1000)));
          const error = `Too many wrong passwords for this account. Wait ${Math.ceil(waitMs / 1000)} s and try again.`;
          return sendPage(ctx, 429, renderSignIn({ ...view, error }));
        }
        const subject = await this.signIn(form.username, form.password);
        if (!subject) return sendPage(ctx, 401, renderSignIn({ ...view, error: 'Wrong username or password.' }));
        const ticket = await this.p.tickets.issue(subject, request);
        return sendPage(ctx, 200, renderConsent({ ...view, subject, ticket }));
      }
      if (form.step !== 'consent') throw new InvalidRequestError('unknown step');
      const subject = await this.p.tickets.subjectFor(form.ticket, request);
      if (!subject) return sendPage(ctx, 401, renderSignIn({ ...view, error: 'Your sign-in has expired. Sign in again.' }));
      if (form.decision !== 'allow') throw new AccessDeniedError('the user denied access');
      const code = randomToken();
      const issued = (await this.p.store.propose({
        type: 'oauth.issueCode',
        codeHash: sha256(code),
        code: {
          clientId: client.clientId,
          redirectUri: request.redirectUri,
          codeChallenge: request.codeChallenge,
          scope: request.scope,
          subject,
          expiresAt: this.p.nowSecs() + this.p.lifetimes.codeTtlSecs,
        },
        // Spent with the code it approves, on every node at once: a consent is given once.
        ticket: { hash: sha256(form.ticket!), expiresAt: this.p.nowSecs() + TICKET_TTL_SECS },
      })) as { ok: boolean };
      if (!issued.ok) return sendPage(ctx, 401, renderSignIn({ ...view, error: 'This consent was already given. Sign in again.' }));
      this.redirect(ctx, request.redirectUri, { code, state: request.state });
    });
  }

  /** Validates an authorization request (query or form), then runs `handle`; errors become a page or a redirect. */
  private async withAuthorizationRequest(
    ctx: Koa.Context,
    params: Form,
    handle: (client: Client, request: AuthorizationRequest) => Promise<void>,
  ): Promise<void> {
    try {
      const { client, request } = this.parseAuthorizationRequest(params, await this.clientOf(params.client_id));
      try {
        await handle(client, request);
      } catch (err) {
        if (err instanceof OAuthError) throw new RedirectedError(err, request.redirectUri, request.state);
        throw err;
      }
    } catch (err) {
      if (err instanceof UntrustedRedirect) return sendPage(ctx, 400, renderError(err.message));
      if (!(err instanceof RedirectedError)) throw err;
      this.redirect(ctx, err.redirectUri, { error: err.error.errorCode, error_description: err.error.message, state: err.state });
    }
  }

  /** The client of an authorization request; a metadata document that cannot be used is an error page naming why. */
  private async clientOf(clientId: string | undefined): Promise<Client | undefined> {
    try {
      return clientId ? await this.p.clients.resolve(clientId) : undefined;
    } catch (err) {
      if (err instanceof ClientMetadataError) throw new UntrustedRedirect(`The client's metadata document cannot be used: ${err.message}`);
      throw err;
    }
  }

  private parseAuthorizationRequest(q: Form, client: Client | undefined): { client: Client; request: AuthorizationRequest } {
    if (!client || !client.grantTypes.includes('authorization_code')) throw new UntrustedRedirect('Unknown client.');
    // Exact string match against a registered URI (OAuth 2.1 §4.1.1); never redirect to anything else.
    if (!q.redirect_uri || !client.redirectUris.includes(q.redirect_uri)) {
      throw new UntrustedRedirect('The redirect_uri is not registered for this client.');
    }
    const fail = (error: OAuthError) => new RedirectedError(error, q.redirect_uri!, q.state);
    try {
      if (q.response_type !== 'code') throw new UnsupportedResponseTypeError('response_type must be code');
      const codeChallenge = checkChallenge(q.code_challenge, q.code_challenge_method);
      const scope = this.grantableScope(q.scope, client);
      if (q.resource !== undefined && !this.p.resource.accepts(q.resource)) {
        throw new InvalidTargetError(wrongResource(q.resource, this.p.resource.resource));
      }
      const request: AuthorizationRequest = { clientId: client.clientId, redirectUri: q.redirect_uri, scope, codeChallenge };
      if (q.state !== undefined) request.state = q.state;
      if (q.resource !== undefined) request.resource = q.resource;
      return { client, request };
    } catch (err) {
      throw err instanceof OAuthError ? fail(err) : err;
    }
  }

  private view(ctx: Koa.Context, client: Client, request: AuthorizationRequest): PageView {
    return {
      clientName: client.clientName ?? client.clientId,
      redirectOrigin: new URL(request.redirectUri).origin,
      scopes: request.scope.split(' '),
      request,
      csrf: issueCsrf(ctx, this.p.issuer.startsWith('https:')),
    };
  }

  private async signIn(username: string | undefined, password: string | undefined): Promise<string | null> {
    if (!username || !password) return null;
    const user = this.users.get(username);
    let ok = false;
    if (user) ok = await verifySecret(password, user.passwordHash);
    else await burnPasswordCheck(password);
    // Unknown names are throttled like known ones, so the answer does not tell which exist.
    if (ok) this.p.signInBackoff.succeeded(`user:${username}`);
    else this.p.signInBackoff.failed(`user:${username}`);
    return ok ? (user!.subject ?? user!.username) : null;
  }

  private redirect(ctx: Koa.Context, redirectUri: string, params: Record<string, string | undefined>): void {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    url.searchParams.set('iss', this.p.issuer); // RFC 9207: lets the client detect mix-up attacks
    ctx.status = ctx.method === 'POST' ? 303 : 302;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url.href);
  }

  // ---- /oauth/token -------------------------------------------------------------------------------

  private async token(ctx: Koa.Context, form: Form): Promise<Record<string, unknown>> {
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
    const familyId = presented.split('.')[0]!;
    const family = this.p.store.family(familyId);
    if (!family || family.clientId !== client.clientId) throw new InvalidGrantError('the refresh token is invalid');
    // A refresh may narrow the scope of the new access token, never widen it (RFC 6749 §6).
    const scope = form.scope === undefined ? family.scope : narrowScope(form.scope, family.scope);
    const now = this.p.nowSecs();
    const access = await this.p.tokens.issue({ subject: family.subject, clientId: client.clientId, scope });
    const next = `${familyId}.${randomToken()}`;
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

  // ---- /oauth/revoke and /oauth/introspect -------------------------------------------------------

  /** RFC 7009: always 200 for tokens we do not know or that belong to another client (§2.2). */
  private async revoke(ctx: Koa.Context, form: Form): Promise<void> {
    const client = await this.p.clients.authenticate(ctx, form);
    if (!form.token) throw new InvalidRequestError('token is required');
    await this.p.store.sync();
    const family = this.familyOf(form.token, client.clientId);
    if (family) {
      await this.p.store.propose({ type: 'oauth.revokeFamily', familyId: family.id, now: this.p.nowSecs() });
      this.p.onToken?.('revoked');
      return;
    }
    const claims = await this.p.tokens.verifyClaims(form.token).catch(() => null);
    if (claims && claims.clientId === client.clientId) {
      await this.p.store.propose({ type: 'oauth.revokeAccess', access: { jti: claims.jti, exp: claims.expiresAt } });
      this.p.onToken?.('revoked');
    }
  }

  /** RFC 7662, for confidential clients: configured ones (resource servers) any access token, others their own tokens only. */
  private async introspect(ctx: Koa.Context, form: Form): Promise<Record<string, unknown>> {
    const client = await this.p.clients.authenticate(ctx, form);
    if (client.authMethod === 'none') throw new InvalidClientError('introspection needs client authentication');
    if (!form.token) throw new InvalidRequestError('token is required');
    await this.p.store.sync();
    const family = this.familyOf(form.token, client.clientId);
    if (family) {
      const { record } = family;
      if (record.revoked || record.current !== sha256(form.token) || record.expiresAt <= this.p.nowSecs()) return { active: false };
      return { active: true, token_type: 'refresh_token', scope: record.scope, client_id: record.clientId, sub: record.subject, exp: record.expiresAt, iss: this.p.issuer };
    }
    const claims = await this.p.tokens.verify(form.token).catch(() => null);
    // RFC 7662 §4: only a configured client (a resource server) or the token's own client learns
    // about it; to any other registered client it is as good as unknown.
    if (!claims || (claims.clientId !== client.clientId && !this.p.clients.isConfigured(client.clientId))) return { active: false };
    return {
      active: true,
      token_type: 'Bearer',
      scope: claims.scopes.join(' '),
      client_id: claims.clientId,
      sub: claims.subject,
      exp: claims.expiresAt,
      iss: this.p.issuer,
      aud: this.p.resource.resource,
    };
  }

  /** The refresh-token family a presented token belongs to, if it is one of `clientId`'s (current or superseded). */
  private familyOf(token: string, clientId: string) {
    const id = token.split('.')[0]!;
    const record = token.includes('.') && id.length < 64 ? this.p.store.family(id) : undefined;
    if (!record || record.clientId !== clientId) return null;
    const hash = sha256(token);
    return record.current === hash || record.used.includes(hash) ? { id, record } : null;
  }

  private grantableScope(requested: string | undefined, client: Client): string {
    if (requested === undefined || requested.trim() === '') return client.scope;
    return narrowScope(requested, client.scope);
  }
}

const GRANTS = { authorization_code: true, refresh_token: true, client_credentials: true };

function narrowScope(requested: string, allowed: string): string {
  const allowedSet = new Set(allowed.split(' '));
  const scopes = [...new Set(requested.split(' ').filter(Boolean))];
  const refused = scopes.filter((s) => !allowedSet.has(s));
  if (refused.length || scopes.length === 0) throw new InvalidScopeError(`scope not available: ${refused.join(' ') || '(empty)'}`);
  return scopes.join(' ');
}

function newRefreshToken(): { familyId: string; token: string } {
  const familyId = randomToken(12);
  return { familyId, token: `${familyId}.${randomToken()}` };
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

/** The request's parameters as single strings; a repeated parameter is malformed (RFC 6749 §3.1). */
async function formOf(ctx: Koa.Context, malformed: (message: string) => Error = (m) => new InvalidRequestError(m)): Promise<Form> {
  return singleValued(await requestBody(ctx), malformed);
}

function queryOf(ctx: Koa.Context): Form {
  return singleValued(ctx.query, (m) => new UntrustedRedirect(m));
}

function singleValued(input: unknown, malformed: (message: string) => Error): Form {
  const out: Form = {};
  if (!input || typeof input !== 'object') return out;
  for (const [k, v] of Object.entries(input)) {
    if (typeof v !== 'string') throw malformed(`parameter ${k} must be given once`);
    out[k] = v;
  }
  return out;
}

/**
 * Says which origin tokens are for. `localhost` and `127.0.0.1` reach the same node but are different
 * origins (and token audiences), the commonest way to get this wrong, so that case is named.
 */
function wrongResource(requested: string, expected: string): string {
  const alias = URL.canParse(requested) && new URL(requested).port === new URL(expected).port && [requested, expected].every((u) => /^(localhost|127\.0\.0\.1|\[::1\])$/.test(new URL(u).hostname));
  return `resource must be ${expected}, this server's origin (oauth.resource)${alias ? `; ${requested} reaches the same server but is another origin: use ${expected}` : ''}`;
}

async function cors(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  // Browser-based MCP clients call these cross-origin; they carry no cookies, so * is safe.
  ctx.set('Access-Control-Allow-Origin', '*');
  if (ctx.method === 'OPTIONS') {
    ctx.set('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type');
    ctx.status = 204;
    return;
  }
  await next();
}
