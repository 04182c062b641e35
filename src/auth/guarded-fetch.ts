import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The one way the authorization server GETs JSON from a URL it did not make up itself: client metadata
 * documents, a client's `jwks_uri`, an identity provider's key set. Bounded in bytes and time, no
 * redirects, and only to the addresses the policy allows, checked on the address actually connected to
 * (so a DNS answer cannot point the fetch at the cluster's own network).
 *
 * - `public`: https to public unicast addresses only: for URLs a caller chose;
 * - `loopback`: also http on a loopback host, and loopback addresses: for development and tests, never production;
 * - `configured`: URLs the operator wrote into the config: https to any address (an identity provider
 *   on the internal network is normal), or http on a loopback host.
 */
export type FetchPolicy = 'public' | 'loopback' | 'configured';

/** A URL that may not be fetched, or a fetch that failed; the message says why (never a secret: these URLs are public). */
export class FetchRefused extends Error {
  override readonly name = 'FetchRefused';
}

/** The largest body read. */
const MAX_BYTES = 32 * 1024;
/** The whole fetch, connect to last byte. */
const TIMEOUT_MS = 5_000;

/** `url` as a URL the policy lets this server fetch: its scheme, and no credentials in it. `what` names it in the message. */
export function fetchableUrl(url: string, policy: FetchPolicy, what: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FetchRefused(`${what} ${url.slice(0, 200)} is not a URL`);
  }
  const loopbackHttp = policy !== 'public' && parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname);
  if (parsed.protocol !== 'https:' && !loopbackHttp) {
    throw new FetchRefused(`${what} ${parsed.href} must be an https URL${policy === 'public' ? '' : ' (or http on a loopback address)'}`);
  }
  if (parsed.username || parsed.password) throw new FetchRefused(`${what} must not carry credentials`);
  return parsed;
}

/** GET `url` for JSON: a 200 with a JSON content type only, at most MAX_BYTES within TIMEOUT_MS, only to addresses the policy allows. */
export function guardedJsonGet(url: URL, policy: FetchPolicy): Promise<{ body: string; maxAgeSecs: number | undefined }> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !addressAllowed(host, policy)) return Promise.reject(new FetchRefused(`${url.href} points at a non-public address`));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const fail = (message: string) => reject(new FetchRefused(`fetching ${url.href}: ${message}`));
    const req = request(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        lookup: checkedLookup(policy),
        signal: AbortSignal.timeout(TIMEOUT_MS),
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
          if (size > MAX_BYTES) {
            req.destroy();
            return fail(`the answer is larger than ${MAX_BYTES} bytes`);
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ body: Buffer.concat(chunks).toString('utf8'), maxAgeSecs: maxAge(res.headers['cache-control']) }));
        res.on('error', (err) => fail(err.message));
      },
    );
    req.on('error', (err) => fail(err instanceof FetchRefused ? err.message : err.name === 'AbortError' || err.name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS} ms` : err.message));
    req.end();
  });
}

/** How long to keep what a fetch answered: its `max-age`, held between `bounds.min` and `bounds.max` seconds (`bounds.none` when it says nothing). */
export function cacheSecs(maxAgeSecs: number | undefined, bounds: { min: number; none: number; max: number }): number {
  return Math.min(bounds.max, Math.max(bounds.min, maxAgeSecs ?? bounds.none));
}

export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost') return true;
  return isIP(host) !== 0 && ipaddr.process(host).range() === 'loopback';
}

/** A DNS lookup that fails when any address of the name is not one the policy may connect to. */
function checkedLookup(policy: FetchPolicy) {
  return (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = addresses.find((a) => !addressAllowed(a.address, policy));
      if (refused) return callback(new FetchRefused(`${hostname} resolves to a non-public address (${refused.address})`), []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

function addressAllowed(address: string, policy: FetchPolicy): boolean {
  if (policy === 'configured') return true;
  const range = ipaddr.process(address).range();
  return range === 'unicast' || (policy === 'loopback' && range === 'loopback');
}

/** `max-age` of a Cache-Control header; 0 for no-store/no-cache (the caller's floor still applies). */
function maxAge(header: string | undefined): number | undefined {
  if (!header) return undefined;
  if (/\bno-(store|cache)\b/i.test(header)) return 0;
  const m = /\bmax-age=(\d+)/i.exec(header);
  return m ? Number(m[1]) : undefined;
}
