import type Koa from 'koa';
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { OAuthClientMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import { ClientMetadataDocuments, ClientMetadataError } from './client-metadata-documents.ts';
import type { FailureBackoff } from './failure-backoff.ts';
import { InvalidClientError, InvalidClientMetadataError, InvalidRedirectUriError, InvalidRequestError, SlowDownError } from './oauth-errors.ts';
import type { ClientRecord, OAuthStore } from './oauth-state.ts';
import { hashGeneratedSecret, randomToken, sha256, verifySecret } from './secrets.ts';
import { assertedClientId, CLIENT_ASSERTION_TYPE, clientKeys, verifyClientAssertion } from './client-assertion.ts';
import type { FetchPolicy } from './guarded-fetch.ts';
import type { RemoteKeySets } from './remote-key-sets.ts';
import { JWT_BEARER_GRANT, SUPPORTED_SCOPES } from './types.ts';
import type { Json } from '../store/index.ts';

/**
 * A machine client the operator configures (client_credentials: k6 runs, CI). Never registered
 * dynamically: open registration must not mint clients that get tokens without a user. It proves
 * itself with exactly one of: a secret (its hash), or client assertions (private_key_jwt) signed by
 * its keys, given inline or at a URL.
 */
export type StaticClient = {
  clientId: string;
  /** Space-separated scopes the client may get. */
  scope: string;
  /** The subject its tokens act for (owner of what it runs); defaults to `client:<clientId>`. */
  subject?: string;
} & (
  | { /** `raftbox hash-password` output for the client secret. */ secretHash: string }
  | { jwks: { keys: Json[] } }
  | { jwksUri: string }
);

export type Client = ClientRecord & { subject?: string };

/**
 * Client assertions (client-assertion.ts): the `aud` values they may carry, the clock they are checked
 * against, where keys at a `jwks_uri` come from, and where a registered or metadata-document client's
 * `jwks_uri` may point (an operator-configured client's is `configured`).
 */
export interface AssertionSettings {
  audiences: string[];
  nowSecs: () => number;
  keySets: RemoteKeySets;
  clientUrls: FetchPolicy;
}

const MAX_REDIRECT_URIS = 10;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Registered (replicated) clients and operator-configured machine clients, looked up by id. */
export class ClientRegistry {
  private readonly statics: Map<string, Client>;

  private readonly store: OAuthStore;
  private readonly backoff: FailureBackoff;
  private readonly documents: ClientMetadataDocuments | null;
  private readonly assertions: AssertionSettings | null;
  /** Grants a registered client may ask for. */
  private readonly dynamicGrants: Set<string>;
  /**
   * `documents`: how URL-shaped client ids are looked up (client-metadata-documents.ts; absent: they are
   * unknown); `assertions`: what client assertions must be addressed to (absent: private_key_jwt is off);
   * `jwtBearer`: whether the jwt-bearer grant is served (enterprise IdPs are configured), so clients may register for it.
   */
  constructor(
    store: OAuthStore,
    staticClients: StaticClient[],
    backoff: FailureBackoff,
    options: { documents?: ClientMetadataDocuments | null; assertions?: AssertionSettings; jwtBearer?: boolean } = {},
  ) {
    this.store = store;
    this.backoff = backoff;
    this.documents = options.documents ?? null;
    this.assertions = options.assertions ?? null;
    this.dynamicGrants = new Set(['authorization_code', 'refresh_token', ...(options.jwtBearer ? [JWT_BEARER_GRANT] : [])]);
    this.statics = new Map(staticClients.map((c) => [c.clientId, this.configuredClient(c)]));
  }

  /** A configured client as a record; a bad key set or key URL stops the node at start, naming the client. */
  private configuredClient(c: StaticClient): Client {
    const common = { clientId: c.clientId, redirectUris: [], grantTypes: ['client_credentials', JWT_BEARER_GRANT], scope: c.scope, issuedAt: 0, subject: c.subject ?? `client:${c.clientId}` };
    if ('secretHash' in c) return { ...common, secretHash: c.secretHash, authMethod: 'client_secret_basic' };
    if (!this.assertions) throw new Error(`oauth.clients.${c.clientId}: client assertions are not enabled on this server`);
    try {
      return { ...common, authMethod: 'private_key_jwt', ...clientKeys('jwks' in c ? { jwks: c.jwks } : { jwks_uri: c.jwksUri }, 'configured') };
    } catch (err) {
      throw new Error(`oauth.clients.${c.clientId}: ${(err as Error).message}`);
    }
  }

  find(clientId: string): Client | undefined {
    return this.statics.get(clientId) ?? this.store.client(clientId);
  }

  /** Whether this server accepts https URLs as client ids (Client ID Metadata Documents). */
  get acceptsMetadataDocuments(): boolean {
    return this.documents !== null;
  }

  /**
   * A configured or registered client, or, for a URL-shaped id, the client its metadata document
   * describes (fetched or cached); ClientMetadataError says why such a document cannot be used.
   */
  async resolve(clientId: string): Promise<Client | undefined> {
    const known = this.find(clientId);
    if (known || !this.documents || !ClientMetadataDocuments.isUrl(clientId)) return known;
    const client = await this.documents.client(clientId);
    for (const uri of client.redirectUris) {
      try {
        checkRedirectUri(uri);
      } catch (err) {
        throw new ClientMetadataError(err instanceof Error ? err.message : String(err));
      }
    }
    return client;
  }

  /** An operator-configured client (a resource server or machine client), not a registered one. */
  isConfigured(clientId: string): boolean {
    return this.statics.has(clientId);
  }

  /** RFC 7591 registration: validates the metadata, proposes the client, answers the registration response. */
  async register(body: unknown, nowSecs: number): Promise<Record<string, unknown>> {
    // Redirect URIs first, so their problems get RFC 7591's own error code.
    const uris = (body as { redirect_uris?: unknown } | null)?.redirect_uris;
    if (Array.isArray(uris)) for (const uri of uris) if (typeof uri === 'string') checkRedirectUri(uri);
    const parsed = OAuthClientMetadataSchema.safeParse(body);
    if (!parsed.success) throw new InvalidClientMetadataError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const meta = parsed.data;
    if (meta.redirect_uris.length === 0 || meta.redirect_uris.length > MAX_REDIRECT_URIS) {
      throw new InvalidRedirectUriError(`between 1 and ${MAX_REDIRECT_URIS} redirect_uris are required`);
    }
    const authMethod = meta.token_endpoint_auth_method ?? 'client_secret_basic';
    if (authMethod !== 'none' && authMethod !== 'client_secret_basic' && authMethod !== 'client_secret_post' && !(authMethod === 'private_key_jwt' && this.assertions)) {
      throw new InvalidClientMetadataError(`token_endpoint_auth_method ${authMethod} is not supported`);
    }
    const keys = authMethod === 'private_key_jwt' ? clientKeys(meta, this.assertions!.clientUrls) : {};
    const grantTypes = meta.grant_types ?? ['authorization_code', 'refresh_token'];
    const refused = grantTypes.filter((g) => !this.dynamicGrants.has(g));
    if (refused.length) throw new InvalidClientMetadataError(`grant_types not available to registered clients: ${refused.join(', ')}`);
    if (meta.response_types && meta.response_types.some((t) => t !== 'code')) {
      throw new InvalidClientMetadataError('only response_type code is supported');
    }
    const scope = meta.scope ?? SUPPORTED_SCOPES.join(' ');
    const unknown = scope.split(' ').filter((s) => s && !SUPPORTED_SCOPES.includes(s));
    if (unknown.length) throw new InvalidClientMetadataError(`unknown scopes: ${unknown.join(', ')}`);

    const clientId = randomToken(16);
    const secret = authMethod === 'none' || authMethod === 'private_key_jwt' ? undefined : randomToken();
    const client: ClientRecord = {
      clientId,
      authMethod,
      redirectUris: meta.redirect_uris,
      grantTypes,
      scope,
      issuedAt: nowSecs,
      ...(secret ? { secretHash: hashGeneratedSecret(secret) } : {}),
      ...keys,
      ...(meta.client_name ? { clientName: meta.client_name.slice(0, 200) } : {}),
    };
    await this.store.propose({ type: 'oauth.registerClient', client });
    return {
      client_id: clientId,
      client_id_issued_at: nowSecs,
      ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
      redirect_uris: client.redirectUris,
      grant_types: grantTypes,
      response_types: ['code'],
      token_endpoint_auth_method: authMethod,
      ...('jwks' in keys ? { jwks: keys.jwks } : {}),
      ...('jwksUri' in keys ? { jwks_uri: keys.jwksUri } : {}),
      scope,
      ...(client.clientName ? { client_name: client.clientName } : {}),
    };
  }

  /**
   * RFC 6749 §2.3 client authentication at the token, revocation and introspection endpoints:
   * HTTP Basic, secret in the form body, or (public clients) client_id alone. One method per request.
   */
  async authenticate(ctx: Koa.Context, form: Record<string, string>): Promise<Client> {
    if (form.client_assertion_type !== undefined || form.client_assertion !== undefined) return this.authenticateAssertion(ctx, form);
    const basic = parseBasic(ctx.get('authorization'));
    if (basic && (form.client_secret !== undefined || (form.client_id !== undefined && form.client_id !== basic.id))) {
      throw new InvalidRequestError('use one client authentication method');
    }
    const clientId = basic?.id ?? form.client_id;
    const secret = basic?.secret ?? form.client_secret;
    if (!clientId) throw new InvalidClientError('client authentication is required');
    if (secret !== undefined) this.slowDown(clientId);
    const client = await this.resolveForAuthentication(clientId);
    if (!client) {
      // Same cost for unknown clients, so timing does not reveal which ids exist.
      if (secret !== undefined) await verifySecret(secret, 'sha256$');
      if (secret !== undefined) this.backoff.failed(clientId);
      throw new InvalidClientError('client authentication failed');
    }
    if (client.authMethod === 'none') {
      if (secret !== undefined) throw new InvalidClientError('public clients do not authenticate with a secret');
      return client;
    }
    if (secret === undefined || !client.secretHash || !(await verifySecret(secret, client.secretHash))) {
      if (secret !== undefined) this.backoff.failed(clientId);
      throw new InvalidClientError('client authentication failed');
    }
    this.backoff.succeeded(clientId);
    return client;
  }

  /** RFC 7523 §2.2: a JWT signed with one of the client's registered keys, each one accepted once. */
  private async authenticateAssertion(ctx: Koa.Context, form: Record<string, string>): Promise<Client> {
    if (ctx.get('authorization') || form.client_secret !== undefined) throw new InvalidRequestError('use one client authentication method');
    if (!this.assertions) throw new InvalidClientError('client assertions are not accepted here');
    if (form.client_assertion_type !== CLIENT_ASSERTION_TYPE) throw new InvalidRequestError(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
    if (!form.client_assertion) throw new InvalidRequestError('client_assertion is required');
    const clientId = assertedClientId(form.client_assertion);
    if (form.client_id !== undefined && form.client_id !== clientId) throw new InvalidClientError('client_id is not the client the assertion names');
    this.slowDown(clientId);
    const client = await this.resolveForAuthentication(clientId);
    const keys = client?.authMethod === 'private_key_jwt' ? this.keysOf(client) : null;
    if (!client || !keys) {
      this.backoff.failed(clientId);
      throw new InvalidClientError(client ? 'this client does not authenticate with private_key_jwt' : 'client authentication failed');
    }
    let spend;
    try {
      spend = await verifyClientAssertion(form.client_assertion, clientId, keys, this.assertions.audiences, this.assertions.nowSecs());
    } catch (err) {
      this.backoff.failed(clientId);
      throw err;
    }
    // Replicated, so an assertion replayed at another node is refused there too.
    const spent = (await this.store.propose({ type: 'oauth.spendAssertion', hash: sha256(JSON.stringify([clientId, spend.jti])), expiresAt: spend.exp })) as { ok: boolean };
    if (!spent.ok) throw new InvalidClientError('client_assertion was already used (its jti)');
    this.backoff.succeeded(clientId);
    return client;
  }

  /** The keys a private_key_jwt client's assertions are checked with: its inline set, or the one at its `jwks_uri`. */
  private keysOf(client: Client): JWTVerifyGetKey | null {
    if (client.jwks) return createLocalJWKSet(client.jwks as unknown as JSONWebKeySet);
    if (!client.jwksUri) return null;
    return this.assertions!.keySets.resolver(client.jwksUri, this.isConfigured(client.clientId) ? 'configured' : this.assertions!.clientUrls);
  }

  /** After failed authentications of `clientId`, the next attempt waits (FailureBackoff): 429 slow_down until then. */
  private slowDown(clientId: string): void {
    const waitMs = this.backoff.waitMs(clientId);
    if (waitMs > 0) {
      const secs = Math.ceil(waitMs / 1000);
      throw new SlowDownError(`too many failed authentications for client ${clientId}; retry in ${secs} s`, secs);
    }
  }

  private async resolveForAuthentication(clientId: string): Promise<Client | undefined> {
    try {
      return await this.resolve(clientId);
    } catch (err) {
      if (err instanceof ClientMetadataError) throw new InvalidClientError(err.message);
      throw err;
    }
  }
}

/** https anywhere, http only on loopback (native apps, RFC 8252 §7.3), never a fragment. */
export function checkRedirectUri(uri: string): void {
  if (uri.includes('#')) throw new InvalidRedirectUriError(`redirect_uri must not have a fragment: ${uri}`);
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRedirectUriError(`redirect_uri is not a URL: ${uri}`);
  }
  if (url.username || url.password) throw new InvalidRedirectUriError('redirect_uri must not carry credentials');
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return;
  throw new InvalidRedirectUriError(`redirect_uri must be https, or http on a loopback address: ${uri}`);
}

function parseBasic(header: string): { id: string; secret: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClientError('malformed Basic credentials');
  try {
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined.
    return {
      id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw new InvalidClientError('malformed Basic credentials');
  }
}
