import { OAuthClientMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { ClientRecord } from './oauth-state.ts';
import { clientKeys } from './client-assertion.ts';
import { FetchCache } from './fetch-cache.ts';
import { cacheSecs, FetchRefused, fetchableUrl, guardedJsonGet } from './guarded-fetch.ts';
import { JWT_BEARER_GRANT, SUPPORTED_SCOPES } from './types.ts';

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the registration MCP
 * 2025-11-25 and 2026-07-28 prefer): a client whose `client_id` is an https URL publishes its metadata
 * there, and the authorization server fetches it instead of keeping a registration. Nothing is
 * replicated: every node fetches and caches the document itself, so a flow may start on one node and
 * redeem its code on another.
 *
 * - `public`: https only, and only to public unicast addresses (guarded-fetch.ts);
 * - `loopback`: also http, and loopback addresses: for development and tests, never production;
 * - `off`: a URL-shaped client_id is an unknown client.
 *
 * The mode also decides where the `jwks_uri` of a registered or metadata-document client may point.
 */
export type ClientMetadataMode = 'public' | 'loopback' | 'off';

/** A client_id URL or its document cannot be used; the message says why. */
export class ClientMetadataError extends Error {
  override readonly name = 'ClientMetadataError';
}

/** How many documents a node keeps. (Each is at most the fetcher's 32 KiB: the draft suggests 5 KB, but real MCP clients publish more.) */
const MAX_ENTRIES = 1_000;
/** Cache lifetime bounds whatever the document's Cache-Control says: a floor against refetch storms, a ceiling so a changed document is seen within a day. */
const TTL = { min: 60, none: 300, max: 86_400 };
const GRANTS = new Set(['authorization_code', 'refresh_token', JWT_BEARER_GRANT]);

export class ClientMetadataDocuments {
  readonly #mode: Exclude<ClientMetadataMode, 'off'>;
  readonly #nowSecs: () => number;
  readonly #cache: FetchCache<ClientRecord>;

  constructor(mode: Exclude<ClientMetadataMode, 'off'>, nowSecs: () => number) {
    this.#mode = mode;
    this.#nowSecs = nowSecs;
    this.#cache = new FetchCache<ClientRecord>(MAX_ENTRIES, nowSecs);
  }

  /** Whether `clientId` is meant as a metadata document URL (not whether it is a valid one). */
  static isUrl(clientId: string): boolean {
    return /^https?:\/\//i.test(clientId);
  }

  /** The client a document describes; ClientMetadataError when the URL or the document is not acceptable. */
  async client(clientId: string): Promise<ClientRecord> {
    const url = this.#checkedUrl(clientId);
    return this.#cache.get(clientId, () => this.#fetch(clientId, url));
  }

  async #fetch(clientId: string, url: URL): Promise<{ value: ClientRecord; ttlSecs: number }> {
    let fetched;
    try {
      fetched = await guardedJsonGet(url, this.#mode);
    } catch (err) {
      throw err instanceof FetchRefused ? new ClientMetadataError(err.message) : err;
    }
    let json: unknown;
    try {
      json = JSON.parse(fetched.body);
    } catch {
      throw new ClientMetadataError(`the document at ${clientId} is not JSON`);
    }
    return { value: clientOf(clientId, url, json, this.#mode, this.#nowSecs()), ttlSecs: cacheSecs(fetched.maxAgeSecs, TTL) };
  }

  /** The draft's rules for a client identifier URL (§3). */
  #checkedUrl(clientId: string): URL {
    let url: URL;
    try {
      url = fetchableUrl(clientId, this.#mode, 'client_id');
    } catch (err) {
      throw err instanceof FetchRefused ? new ClientMetadataError(err.message) : err;
    }
    if (url.hash || clientId.includes('#')) throw new ClientMetadataError('a client_id URL must not have a fragment');
    if (url.pathname === '/' ) throw new ClientMetadataError('a client_id URL must have a path (e.g. https://app.example/client.json)');
    // URL() resolves dot segments away; the draft forbids them in the identifier as sent.
    const rawPath = clientId.replace(/^[a-z]+:\/\/[^/?#]*/i, '').split(/[?#]/)[0]!;
    if (rawPath.split('/').some((s) => s === '.' || s === '..' || /^%2e(%2e)?$/i.test(s) || /^\.%2e$|^%2e\.$/i.test(s))) {
      throw new ClientMetadataError('a client_id URL must not have . or .. path segments');
    }
    return url;
  }
}

/** The document's metadata as a public client of this server (§4): it must name itself, and hold no secret. */
function clientOf(clientId: string, url: URL, json: unknown, mode: Exclude<ClientMetadataMode, 'off'>, nowSecs: number): ClientRecord {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ClientMetadataError(`the document at ${clientId} is not a JSON object`);
  const doc = json as Record<string, unknown>;
  if (doc.client_id !== clientId) {
    throw new ClientMetadataError(`the document's client_id (${String(doc.client_id).slice(0, 200)}) is not its own URL ${clientId}`);
  }
  if ('client_secret' in doc || 'client_secret_expires_at' in doc) throw new ClientMetadataError('a client metadata document must not contain a client secret');
  const parsed = OAuthClientMetadataSchema.safeParse(doc);
  if (!parsed.success) {
    throw new ClientMetadataError(`the document at ${clientId} is not valid client metadata: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const meta = parsed.data;
  const authMethod = meta.token_endpoint_auth_method ?? 'none';
  if (authMethod !== 'none' && authMethod !== 'private_key_jwt') {
    throw new ClientMetadataError(`token_endpoint_auth_method ${authMethod} is not supported for metadata-document clients (none or private_key_jwt)`);
  }
  let keys;
  try {
    keys = authMethod === 'private_key_jwt' ? clientKeys(meta, mode) : {};
  } catch (err) {
    throw new ClientMetadataError(err instanceof Error ? err.message : String(err));
  }
  if (meta.redirect_uris.length === 0 || meta.redirect_uris.length > 10) throw new ClientMetadataError('the document needs between 1 and 10 redirect_uris');
  for (const uri of meta.redirect_uris) if (uri.includes('#')) throw new ClientMetadataError(`redirect_uri must not have a fragment: ${uri}`);
  const grantTypes = meta.grant_types ?? ['authorization_code'];
  if (!grantTypes.includes('authorization_code')) throw new ClientMetadataError('the document\'s grant_types must include authorization_code');
  const requested = meta.scope?.split(' ').filter(Boolean);
  // A document is written for many servers: scopes this one does not know are left out, not refused.
  const scope = requested ? requested.filter((s) => SUPPORTED_SCOPES.includes(s)) : [...SUPPORTED_SCOPES];
  if (scope.length === 0) throw new ClientMetadataError(`the document asks for none of this server's scopes (${SUPPORTED_SCOPES.join(', ')})`);
  // The consent page names the host that vouches for the document, not only the name it claims.
  const name = meta.client_name ? `${meta.client_name.slice(0, 200)} (${url.host})` : url.host;
  return {
    clientId,
    authMethod,
    ...keys,
    redirectUris: meta.redirect_uris,
    grantTypes: grantTypes.filter((g) => GRANTS.has(g)),
    scope: scope.join(' '),
    clientName: name,
    issuedAt: nowSecs,
  };
}
