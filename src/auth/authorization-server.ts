import type Koa from 'koa';
import { Router } from '@koa/router';
import type { OAuthMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { AccessTokens } from './access-tokens.ts';
import { AuthorizeEndpoint } from './authorize-endpoint.ts';
import type { ClientRegistry } from './client-registry.ts';
import type { ConsentTickets } from './consent-ticket.ts';
import type { FailureBackoff } from './failure-backoff.ts';
import type { IdentityAssertionGrant } from './identity-assertion-grant.ts';
import { introspect } from './introspect-endpoint.ts';
import { oauthErrors } from './oauth-errors.ts';
import { formOf } from './oauth-params.ts';
import type { OAuthStore } from './oauth-state.ts';
import type { ProtectedResource } from './protected-resource.ts';
import { requestBody } from './request-body.ts';
import { revoke } from './revoke-endpoint.ts';
import type { SigningKeys } from './signing-keys.ts';
import { TokenEndpoint } from './token-endpoint.ts';
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
  /** The jwt-bearer grant for enterprise IdPs' ID-JAGs; null when no IdP is configured. */
  identityAssertions: IdentityAssertionGrant | null;
  onToken?: TokenObserver;
}

/**
 * The built-in OAuth 2.1 authorization server: its metadata and routes. Each endpoint's rules are in
 * a module of their own: the browser flow in authorize-endpoint.ts, the grants in token-endpoint.ts
 * (enterprise IdPs' ID-JAGs in identity-assertion-grant.ts), revoke-endpoint.ts and
 * introspect-endpoint.ts; registration in client-registry.ts, JWKS in signing-keys.ts.
 */
export class AuthorizationServer {
  private readonly authorize: AuthorizeEndpoint;
  private readonly token: TokenEndpoint;

  private readonly p: AuthorizationServerParts;
  constructor(p: AuthorizationServerParts) {
    this.p = p;
    this.authorize = new AuthorizeEndpoint(p);
    this.token = new TokenEndpoint(p);
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
      grant_types_supported: this.token.grantTypes,
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
      ctx.body = await this.token.grant(ctx, form);
      this.p.onToken?.(form.grant_type === 'refresh_token' ? 'refreshed' : 'issued');
    });
    router.post('/oauth/revoke', ...api, async (ctx) => {
      await revoke(this.p, ctx, await formOf(ctx));
      ctx.status = 200;
      ctx.body = {};
    });
    router.post('/oauth/introspect', ...api, async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      ctx.body = await introspect(this.p, ctx, await formOf(ctx));
    });
    router.get('/oauth/authorize', (ctx) => this.authorize.page(ctx));
    router.post('/oauth/authorize', (ctx) => this.authorize.submit(ctx));
    return router.routes() as Koa.Middleware;
  }
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
