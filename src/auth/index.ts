import type Koa from 'koa';
import type { CommandLog } from '../store/index.ts';
import { AccessTokens } from './access-tokens.ts';
import { AuthorizationServer, type User } from './authorization-server.ts';
import { bearerGate } from './bearer-gate.ts';
import { ClientMetadataDocuments, type ClientMetadataMode } from './client-metadata-documents.ts';
import { ClientRegistry, type StaticClient } from './client-registry.ts';
import { ConsentTickets } from './consent-ticket.ts';
import { guessBackoff } from './failure-backoff.ts';
import { ExternalProvider, type ExternalProviderOptions } from './external-provider.ts';
import { IdentityAssertionGrant, type EnterpriseIdp } from './identity-assertion-grant.ts';
import { OAuthStore, type OAuthStateReader } from './oauth-state.ts';
import { canonicalOrigin, ProtectedResource } from './protected-resource.ts';
import { RemoteKeySets } from './remote-key-sets.ts';
import { SigningKeys } from './signing-keys.ts';
import { SUPPORTED_SCOPES, type AuthGate, type TokenObserver } from './types.ts';
import type { Json } from '../store/index.ts';
import type { Config } from '../config/index.ts';

export type { AuthGate, BrowserSignIn, Principal, TokenObserver, TokenOutcome, TokenVerifier, VerifiedToken } from './types.ts';
export { SCOPES, SUPPORTED_SCOPES, TokenRejected } from './types.ts';
export type { User } from './authorization-server.ts';
export type { StaticClient } from './client-registry.ts';
export type { EnterpriseIdp } from './identity-assertion-grant.ts';
export { oauthStateModule, OAUTH_MODULE } from './oauth-state.ts';
export { hashPassword } from './secrets.ts';

export interface BuiltInAuthOptions {
  /** The cluster's public origin (same on every node, e.g. the load balancer's): `iss` of our tokens. */
  issuer: string;
  /** Canonical resource URI (`aud` of our tokens); defaults to the issuer. */
  resource?: string;
  /** This node's replicated state (opened with `oauthStateModule`) and its command log. */
  state: OAuthStateReader;
  log: CommandLog;
  users: User[];
  /** Machine clients for client_credentials. */
  clients?: StaticClient[];
  accessTokenTtlSecs?: number;
  refreshTokenTtlSecs?: number;
  codeTtlSecs?: number;
  keyRotationSecs?: number;
  /** How often a node looks for expired codes, tokens, revocations and keys to prune. */
  pruneIntervalSecs?: number;
  /** Epoch milliseconds; the proposer's clock goes into every command. */
  clock?: () => number;
  onToken?: TokenObserver;
  /**
   * Whether https URLs are accepted as client ids (Client ID Metadata Documents); default `public`.
   * `loopback` also lets registered and metadata-document clients' `jwks_uri` point at loopback http.
   */
  clientMetadataDocuments?: ClientMetadataMode;
  /** Identity providers whose ID-JAGs the jwt-bearer grant honours (enterprise-managed authorization). */
  enterpriseIdps?: EnterpriseIdp[];
}

export interface BuiltInAuth extends AuthGate {
  /** Proposes a prune of everything expired now, if anything is; the timer calls it too. */
  pruneExpired(): Promise<void>;
}

/** The built-in authorization server (`--oauth`): every node serves it from the replicated state. */
export function createBuiltInAuth(opts: BuiltInAuthOptions): BuiltInAuth {
  const issuer = canonicalOrigin(opts.issuer, 'oauth.issuer');
  const resource = new ProtectedResource(canonicalOrigin(opts.resource ?? issuer, 'oauth.resource'), issuer);
  const clock = opts.clock ?? Date.now;
  const nowSecs = () => Math.floor(clock() / 1000);
  const accessTtl = opts.accessTokenTtlSecs ?? 600;
  const store = new OAuthStore(opts.state, opts.log);
  const keys = new SigningKeys(
    store,
    // A replaced key outlives every access token and consent ticket it signed (tickets live 10 minutes).
    { rotateAfterSecs: opts.keyRotationSecs ?? 30 * 86400, retainSecs: Math.max(accessTtl, 600) + 60 },
    nowSecs,
  );
  const tokens = new AccessTokens(keys, store, { issuer, resource: resource.resource, ttlSecs: accessTtl, nowSecs });
  const mode = opts.clientMetadataDocuments ?? 'public';
  const keySets = new RemoteKeySets(nowSecs);
  const idps = opts.enterpriseIdps ?? [];
  const server = new AuthorizationServer({
    issuer,
    resource,
    store,
    clients: new ClientRegistry(store, opts.clients ?? [], guessBackoff(clock), {
      documents: documentsFor(mode, nowSecs),
      // RFC 7523: the issuer identifies the authorization server; the token endpoint is accepted as OpenID Connect has clients send it.
      assertions: { audiences: [issuer, `${issuer}/oauth/token`], nowSecs, keySets, clientUrls: mode === 'loopback' ? 'loopback' : 'public' },
      jwtBearer: idps.length > 0,
    }),
    identityAssertions: idps.length > 0 ? new IdentityAssertionGrant(idps, { issuer, resource, store, keySets, nowSecs }) : null,
    keys,
    tokens,
    tickets: new ConsentTickets(keys, `${issuer}/oauth/authorize`, nowSecs),
    users: opts.users,
    lifetimes: { codeTtlSecs: opts.codeTtlSecs ?? 60, refreshTtlSecs: opts.refreshTokenTtlSecs ?? 14 * 86400 },
    nowSecs,
    signInBackoff: guessBackoff(clock),
    ...(opts.onToken ? { onToken: opts.onToken } : {}),
  });

  const pruneExpired = async () => {
    const now = nowSecs();
    if (store.hasExpired(now)) await store.propose({ type: 'oauth.prune', now });
  };
  const timer = setInterval(() => {
    // A failed prune (no leader right now) changes nothing; the next tick proposes it again.
    pruneExpired().catch(() => undefined);
  }, (opts.pruneIntervalSecs ?? 60) * 1000);
  timer.unref();

  return {
    routes: () => compose(resource.routes(), server.routes()),
    requireBearer: bearerGate(tokens, resource, opts.onToken),
    pruneExpired,
    close: () => clearInterval(timer),
  };
}

function documentsFor(mode: ClientMetadataMode, nowSecs: () => number): ClientMetadataDocuments | null {
  return mode === 'off' ? null : new ClientMetadataDocuments(mode, nowSecs);
}

export type ExternalAuthOptions = Omit<ExternalProviderOptions, 'resource'> & {
  /** Our canonical resource URI (the cluster's public origin): the audience the provider must put in tokens. */
  resource: string;
  onToken?: TokenObserver;
  /** The provider's public client for the status page's sign-in (see AuthGate.browserSignIn). */
  statusPageClientId?: string;
};

/** Delegation to an external provider (`--oauth-provider-url`): discovery happens here, once. */
export async function createExternalAuth(opts: ExternalAuthOptions): Promise<AuthGate> {
  const resourceUri = canonicalOrigin(opts.resource, 'oauth.resource');
  const { onToken, statusPageClientId, ...providerOptions } = opts;
  const provider = await ExternalProvider.discover({ ...providerOptions, resource: resourceUri });
  const resource = new ProtectedResource(resourceUri, provider.issuer);
  return {
    routes: () => resource.routes(),
    requireBearer: bearerGate(provider, resource, onToken),
    close: () => undefined,
    ...(statusPageClientId !== undefined ? { browserSignIn: provider.browserSignIn(statusPageClientId) } : {}),
  };
}

function compose(...middleware: Koa.Middleware[]): Koa.Middleware {
  return (ctx, next) => {
    const run = (i: number): Promise<void> => (i === middleware.length ? next() : Promise.resolve(middleware[i]!(ctx, () => run(i + 1))));
    return run(0);
  };
}

export type OAuthConfig = Config['oauth'];

/**
 * The gate a node runs with, from its `oauth` config: none when OAuth is off, the external provider
 * when `providerUrl` is set, otherwise the built-in server over the node's replicated state.
 */
export async function createAuth(
  config: OAuthConfig,
  node: { url: string; state: OAuthStateReader; log: CommandLog; onToken?: TokenObserver },
): Promise<AuthGate | undefined> {
  if (!config.enabled && !config.providerUrl) return undefined;
  const publicUrl = config.issuer ?? node.url;
  if (config.providerUrl) {
    return createExternalAuth({
      providerUrl: config.providerUrl,
      resource: config.resource ?? publicUrl,
      ...(config.clientId !== undefined ? { clientId: config.clientId } : {}),
      ...(config.clientSecret !== undefined ? { clientSecret: config.clientSecret } : {}),
      ...(config.tokenFormat !== undefined ? { tokenFormat: config.tokenFormat } : {}),
      ...(config.statusPageClientId !== undefined ? { statusPageClientId: config.statusPageClientId } : {}),
      ...(node.onToken ? { onToken: node.onToken } : {}),
    });
  }
  return createBuiltInAuth({
    issuer: publicUrl,
    ...(config.resource !== undefined ? { resource: config.resource } : {}),
    state: node.state,
    log: node.log,
    users: Object.entries(config.users).map(([username, passwordHash]) => ({ username, passwordHash })),
    clients: Object.entries(config.clients).map(([clientId, credential]) => ({ clientId, scope: SUPPORTED_SCOPES.join(' '), ...clientCredential(credential) })),
    accessTokenTtlSecs: config.accessTokenTtlSecs,
    refreshTokenTtlSecs: config.refreshTokenTtlSecs,
    clientMetadataDocuments: config.clientMetadataDocuments,
    enterpriseIdps: config.enterpriseIdps.map(({ jwks, jwksUri, ...idp }) => ({ ...idp, ...(jwks ? { jwks: jwks as { keys: Json[] } } : { jwksUri: jwksUri! }) })),
    ...(node.onToken ? { onToken: node.onToken } : {}),
  });
}

/**
 * An `oauth.clients` value: a secret's hash, or, for private_key_jwt, the URL of the client's key set
 * (a hash never looks like one) or, in the config file, `{ "jwks": … }` / `{ "jwksUri": … }`.
 */
function clientCredential(value: OAuthConfig['clients'][string]): { secretHash: string } | { jwks: { keys: Json[] } } | { jwksUri: string } {
  if (typeof value !== 'string') return 'jwks' in value ? { jwks: value.jwks as { keys: Json[] } } : value;
  return /^https?:\/\//i.test(value) ? { jwksUri: value } : { secretHash: value };
}
