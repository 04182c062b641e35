import { createRemoteJWKSet, jwtVerify } from 'jose';
import { OAuthMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import { unavailable } from '../errors.ts';
import { asRejection } from './access-tokens.ts';
import { sha256 } from './secrets.ts';
import { ASYMMETRIC_JWS_ALGS, TokenRejected, type BrowserSignIn, type TokenVerifier, type VerifiedToken } from './types.ts';

export interface ExternalProviderOptions {
  /** The provider's issuer URL, e.g. `https://keycloak.example.com/realms/raftbox`. */
  providerUrl: string;
  /** Our canonical resource URI: the audience tokens must carry. */
  resource: string;
  /** Our client at the provider, for RFC 7662 introspection. */
  clientId?: string;
  clientSecret?: string;
  /** `jwt`: verify locally with the provider's JWKS; `introspection`: ask the provider. Default: introspection when credentials are given. */
  tokenFormat?: 'jwt' | 'introspection';
  /** Upper bound on how long an introspection answer is reused (never beyond the token's `exp`). */
  cacheTtlSecs?: number;
  cacheSize?: number;
}

interface ProviderMetadata {
  issuer: string;
  authorization_endpoint?: string | undefined;
  token_endpoint?: string | undefined;
  jwks_uri?: string | undefined;
  introspection_endpoint?: string | undefined;
}

const FETCH_TIMEOUT_MS = 5000;

/**
 * Validates tokens issued by an external authorization server (Keycloak, …). Our protected-resource
 * metadata names it as the authorization server; we only check what it issued.
 */
export class ExternalProvider implements TokenVerifier {
  private readonly cache = new Map<string, { token: VerifiedToken; until: number }>();
  private readonly jwks;

  readonly issuer: string;
  private readonly metadata: ProviderMetadata;
  private readonly opts: ExternalProviderOptions & { tokenFormat: 'jwt' | 'introspection' };
  private constructor(
    issuer: string,
    metadata: ProviderMetadata,
    opts: ExternalProviderOptions & { tokenFormat: 'jwt' | 'introspection' },
  ) {
    this.issuer = issuer;
    this.metadata = metadata;
    this.opts = opts;
    this.jwks = metadata.jwks_uri ? createRemoteJWKSet(new URL(metadata.jwks_uri), { timeoutDuration: FETCH_TIMEOUT_MS }) : null;
  }

  /** Fetches the provider's metadata (RFC 8414, then OpenID Connect discovery) and checks it names itself. */
  static async discover(opts: ExternalProviderOptions): Promise<ExternalProvider> {
    const issuer = opts.providerUrl.replace(/\/+$/, '');
    const metadata = await fetchMetadata(issuer);
    const tokenFormat = opts.tokenFormat ?? (opts.clientId && opts.clientSecret ? 'introspection' : 'jwt');
    if (tokenFormat === 'introspection' && (!metadata.introspection_endpoint || !opts.clientId || !opts.clientSecret)) {
      throw new Error('introspection needs the provider\'s introspection_endpoint and our client id and secret');
    }
    if (tokenFormat === 'jwt' && !metadata.jwks_uri) throw new Error('the provider publishes no jwks_uri; use introspection');
    return new ExternalProvider(metadata.issuer, metadata, { ...opts, tokenFormat });
  }

  /** Sign-in for a browser page with `clientId`, a public client of the provider; throws when the provider has no authorization code endpoints. */
  browserSignIn(clientId: string): BrowserSignIn {
    const { authorization_endpoint: authorizationEndpoint, token_endpoint: tokenEndpoint } = this.metadata;
    if (!authorizationEndpoint || !tokenEndpoint) {
      throw new Error(`oauth.statusPageClientId is set, but the provider ${this.issuer} publishes no authorization_endpoint and token_endpoint`);
    }
    return { authorizationEndpoint, tokenEndpoint, clientId };
  }

  verify(token: string): Promise<VerifiedToken> {
    return this.opts.tokenFormat === 'jwt' ? this.verifyJwt(token) : this.introspect(token);
  }

  private async verifyJwt(token: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, this.jwks!, {
        issuer: this.issuer,
        audience: this.opts.resource,
        algorithms: ASYMMETRIC_JWS_ALGS,
        requiredClaims: ['exp', 'sub'],
      });
      return principalOf(payload);
    } catch (err) {
      if (err instanceof Error && (err.name === 'JWKSTimeout' || /fetch failed/.test(err.message))) {
        throw unavailable('the authorization server cannot be reached');
      }
      throw asRejection(err);
    }
  }

  private async introspect(token: string): Promise<VerifiedToken> {
    const now = Math.floor(Date.now() / 1000);
    const key = sha256(token);
    const hit = this.cache.get(key);
    if (hit && hit.until > now) return hit.token;
    this.cache.delete(key);

    const basic = Buffer.from(`${encodeURIComponent(this.opts.clientId!)}:${encodeURIComponent(this.opts.clientSecret!)}`).toString('base64');
    let body: Record<string, unknown>;
    try {
      const res = await fetch(this.metadata.introspection_endpoint!, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`introspection answered ${res.status}`);
      body = (await res.json()) as Record<string, unknown>;
    } catch {
      throw unavailable('the authorization server cannot introspect tokens right now');
    }
    if (body.active !== true) throw new TokenRejected('token is not active');
    if (typeof body.exp !== 'number' || body.exp <= now) throw new TokenRejected('token has expired');
    if (body.iss !== undefined && body.iss !== this.issuer) throw new TokenRejected('token iss claim is not acceptable');
    const aud = Array.isArray(body.aud) ? body.aud : [body.aud];
    if (!aud.includes(this.opts.resource)) throw new TokenRejected('token aud claim is not acceptable');
    const verified = principalOf(body);

    if (this.cache.size >= (this.opts.cacheSize ?? 10_000)) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { token: verified, until: Math.min(verified.expiresAt, now + (this.opts.cacheTtlSecs ?? 60)) });
    return verified;
  }
}

function principalOf(claims: Record<string, unknown>): VerifiedToken {
  // `scope` (RFC 9068, Keycloak, oidc-provider) or `scp` (some providers) as an array.
  const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : Array.isArray(claims.scp) ? claims.scp.map(String) : [];
  const clientId = typeof claims.client_id === 'string' ? claims.client_id : typeof claims.azp === 'string' ? claims.azp : null;
  // A machine token may be introspected without `sub` (RFC 7662 makes it optional): it acts for its
  // client, as the same provider's JWTs say with sub = client_id.
  const subject = typeof claims.sub === 'string' && claims.sub ? claims.sub : clientId;
  if (!subject) throw new TokenRejected('token has no subject');
  return { subject, scopes, clientId, expiresAt: claims.exp as number };
}

/** RFC 8414 §3 path-inserted well-known first, then OIDC discovery (appended, as Keycloak serves it). */
async function fetchMetadata(issuer: string): Promise<ProviderMetadata> {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  const candidates = [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${issuer}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/openid-configuration${path}`,
  ];
  for (const candidate of candidates) {
    const res = await fetch(candidate, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch(() => null);
    if (!res?.ok) continue;
    const parsed = OAuthMetadataSchema.partial().required({ issuer: true }).safeParse(await res.json().catch(() => null));
    if (!parsed.success) continue;
    // RFC 8414 §3.3: a document that names another issuer must not be used (metadata substitution).
    if (parsed.data.issuer.replace(/\/+$/, '') !== issuer) {
      throw new Error(`provider metadata at ${candidate} names issuer ${parsed.data.issuer}, expected ${issuer}`);
    }
    return parsed.data as ProviderMetadata;
  }
  throw new Error(`no OAuth or OpenID metadata found for ${issuer}`);
}
