import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { OAuthClientMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { ClientRecord } from './oauth-state.ts';
import { checkJwks } from './client-assertion.ts';
import { SUPPORTED_SCOPES } from './types.ts';

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; the registration MCP
 * 2025-11-25 and 2026-07-28 prefer): a client whose `client_id` is an https URL publishes its metadata
 * there, and the authorization server fetches it instead of keeping a registration. Nothing is
 * replicated: every node fetches and caches the document itself, so a flow may start on one node and
 * redeem its code on another.
 *
 * - `public`: https only, and only to public unicast addresses (checked on the address actually
 *   connected to, so a DNS answer cannot point the fetch at the cluster's own network);
 * - `loopback`: also http, and loopback addresses: for development and tests, never production;
 * - `off`: a URL-shaped client_id is an unknown client.
 */
export type ClientMetadataMode = 'public' | 'loopback' | 'off';

/** A client_id URL or its document cannot be used; the message says why. */
export class ClientMetadataError extends Error {
  override readonly name = 'ClientMetadataError';
}

export interface ClientMetadataLimits {
  /** The largest document read (the draft suggests 5 KB; real MCP clients publish more). */
  maxBytes: number;
  /** The whole fetch, connect to last byte. */
  timeoutMs: number;
  /** How many documents a node keeps. */
  maxEntries: number;
}

const LIMITS: ClientMetadataLimits = { maxBytes: 32 * 1024, timeoutMs: 5_000, maxEntries: 1_000 };
/** Cache lifetime bounds whatever the document's Cache-Control says: a floor against refetch storms, a ceiling so a changed document is seen within a day. */
const MIN_TTL_SECS = 60;
const DEFAULT_TTL_SECS = 300;
const MAX_TTL_SECS = 86_400;
const GRANTS = new Set(['authorization_code', 'refresh_token']);

interface Cached {
  client: ClientRecord;
  expiresAt: number;
}

export class ClientMetadataDocuments {
  readonly #mode: Exclude<ClientMetadataMode, 'off'>;
  readonly #limits: ClientMetadataLimits;
  readonly #nowSecs: () => number;
  /** Insertion order is recency: a hit moves its entry to the end, the first entry is evicted. */
  readonly #cache = new Map<string, Cached>();
  /** One fetch per URL at a time; concurrent lookups share it. */
  readonly #inflight = new Map<string, Promise<ClientRecord>>();

  constructor(mode: Exclude<ClientMetadataMode, 'off'>, nowSecs: () => number, limits: Partial<ClientMetadataLimits> = {}) {
    this.#mode = mode;
    this.#nowSecs = nowSecs;
    this.#limits = { ...LIMITS, ...limits };
  }

  /** Whether `clientId` is meant as a metadata document URL (not whether it is a valid one). */
  static isUrl(clientId: string): boolean {
    return /^https?:\/\//i.test(clientId);
  }

  /** The client a document describes; ClientMetadataError when the URL or the document is not acceptable. */
  async client(clientId: string): Promise<ClientRecord> {
    const url = this.#checkedUrl(clientId);
    const hit = this.#cache.get(clientId);
    if (hit && hit.expiresAt > this.#nowSecs()) {
      this.#cache.delete(clientId);
      this.#cache.set(clientId, hit);
      return hit.client;
    }
    let pending = this.#inflight.get(clientId);
    if (!pending) {
      pending = this.#fetch(clientId, url).finally(() => this.#inflight.delete(clientId));
      this.#inflight.set(clientId, pending);
    }
    return pending;
  }

  async #fetch(clientId: string, url: URL): Promise<ClientRecord> {
    const { body, maxAgeSecs } = await fetchDocument(url, this.#mode, this.#limits);
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new ClientMetadataError(`the document at ${clientId} is not JSON`);
    }
    const client = clientOf(clientId, url, json, this.#nowSecs());
    this.#cache.delete(clientId);
    this.#cache.set(clientId, { client, expiresAt: this.#nowSecs() + Math.min(MAX_TTL_SECS, Math.max(MIN_TTL_SECS, maxAgeSecs ?? DEFAULT_TTL_SECS)) });
    if (this.#cache.size > this.#limits.maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    return client;
  }

  /** The draft's rules for a client identifier URL (§3). */
  #checkedUrl(clientId: string): URL {
    let url: URL;
    try {
      url = new URL(clientId);
    } catch {
      throw new ClientMetadataError(`client_id ${clientId} is not a URL`);
    }
    const loopbackHttp = this.#mode === 'loopback' && url.protocol === 'http:' && isLoopbackHost(url.hostname);
    if (url.protocol !== 'https:' && !loopbackHttp) {
      throw new ClientMetadataError(`client_id ${clientId} must be an https URL${this.#mode === 'loopback' ? ' (or http on a loopback address)' : ''}`);
    }
    if (url.username || url.password) throw new ClientMetadataError('a client_id URL must not carry credentials');
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
function clientOf(clientId: string, url: URL, json: unknown, nowSecs: number): ClientRecord {
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
  let jwks;
  try {
    jwks = authMethod === 'private_key_jwt' ? checkJwks(meta.jwks) : undefined;
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
    ...(jwks ? { jwks } : {}),
    redirectUris: meta.redirect_uris,
    grantTypes: grantTypes.filter((g) => GRANTS.has(g)),
    scope: scope.join(' '),
    clientName: name,
    issuedAt: nowSecs,
  };
}

/** GET the document: 200 and JSON only, no redirects, at most `maxBytes`, within `timeoutMs`, only to allowed addresses. */
function fetchDocument(url: URL, mode: 'public' | 'loopback', limits: ClientMetadataLimits): Promise<{ body: string; maxAgeSecs: number | undefined }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !addressAllowed(host, mode)) return Promise.reject(new ClientMetadataError(`client_id ${url.href} points at a non-public address`));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const fail = (message: string) => reject(new ClientMetadataError(`fetching ${url.href}: ${message}`));
    const req = request(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        lookup: checkedLookup(mode),
        signal: AbortSignal.timeout(limits.timeoutMs),
      },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume();
          return fail(res.statusCode! >= 300 && res.statusCode! < 400 ? `answered a redirect (${res.statusCode}); redirects are not followed` : `answered HTTP ${res.statusCode}`);
        }
        const type = res.headers['content-type'] ?? '';
        if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
          res.resume();
          return fail(`answered ${type || 'no content type'}, not application/json`);
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limits.maxBytes) {
            req.destroy();
            return fail(`the document is larger than ${limits.maxBytes} bytes`);
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ body: Buffer.concat(chunks).toString('utf8'), maxAgeSecs: maxAge(res.headers['cache-control']) }));
        res.on('error', (err) => fail(err.message));
      },
    );
    req.on('error', (err) => fail(err instanceof ClientMetadataError ? err.message : err.name === 'AbortError' || err.name === 'TimeoutError' ? `no answer within ${limits.timeoutMs} ms` : err.message));
    req.end();
  });
}

/** A DNS lookup that fails when any address of the name is not one the mode may connect to. */
function checkedLookup(mode: 'public' | 'loopback') {
  return (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = addresses.find((a) => !addressAllowed(a.address, mode));
      if (refused) return callback(new ClientMetadataError(`${hostname} resolves to a non-public address (${refused.address})`), []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

function addressAllowed(address: string, mode: 'public' | 'loopback'): boolean {
  const range = ipaddr.process(address).range();
  return range === 'unicast' || (mode === 'loopback' && range === 'loopback');
}

function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  return isIP(host) !== 0 && ipaddr.process(host).range() === 'loopback';
}

/** `max-age` of a Cache-Control header; 0 for no-store/no-cache (the floor still applies). */
function maxAge(header: string | undefined): number | undefined {
  if (!header) return undefined;
  if (/\bno-(store|cache)\b/i.test(header)) return 0;
  const m = /\bmax-age=(\d+)/i.exec(header);
  return m ? Number(m[1]) : undefined;
}
