import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { keySetProblem } from './client-assertion.ts';
import { FetchCache } from './fetch-cache.ts';
import { cacheSecs, FetchRefused, fetchableUrl, guardedJsonGet, type FetchPolicy } from './guarded-fetch.ts';

/** A fetched set as jose's resolver over it, or why it could not be had. */
type Fetched = { keys: JWTVerifyGetKey } | { error: FetchRefused };

const MAX_ENTRIES = 1_000;
/** A fetched set may hold this many keys (its bytes are capped by the fetcher too). */
const MAX_KEYS = 100;
/** A set is kept by its Cache-Control, between a minute and an hour (5 minutes when it says nothing): a withdrawn key stops verifying within the hour. */
const TTL = { min: 60, none: 300, max: 3_600 };
/** A failed fetch is answered from memory this long, so a dead or slow URL is not fetched per request. */
const FAILURE_TTL_SECS = 10;
/** A JWT naming a key the cached set lacks makes one refetch, at most once this often per URL. */
const REFETCH_AFTER_SECS = 60;

/**
 * Public key sets published at URLs (a client's `jwks_uri`, an enterprise IdP's JWKS), fetched with the
 * guarded fetcher and cached per node. Instead of jose's createRemoteJWKSet, whose fetch would bypass
 * the address policy and the caps.
 *
 * When the publisher rotates, a JWT signed with the new key names a kid the cached set lacks: that makes
 * one refetch, but never sooner than REFETCH_AFTER_SECS after the last fetch, so JWTs naming made-up
 * kids cannot make this node fetch per request.
 */
export class RemoteKeySets {
  readonly #cache: FetchCache<Fetched>;

  constructor(nowSecs: () => number) {
    this.#cache = new FetchCache<Fetched>(MAX_ENTRIES, nowSecs);
  }

  /** jose's key resolver for JWTs signed with the keys at `url`, fetched under `policy`. */
  resolver(url: string, policy: FetchPolicy): JWTVerifyGetKey {
    // The policy is part of the key: what was fetched for the operator's URL never answers a caller's, nor the reverse.
    const key = `${policy} ${url}`;
    const load = () => this.#fetch(url, policy);
    return async (header, token) => {
      const fetched = await this.#cache.get(key, load);
      try {
        return await keyOf(fetched, header, token);
      } catch (err) {
        if (!(err instanceof errors.JWKSNoMatchingKey) || this.#cache.ageSecs(key) < REFETCH_AFTER_SECS) throw err;
        return keyOf(await this.#cache.get(key, load, true), header, token);
      }
    };
  }

  async #fetch(url: string, policy: FetchPolicy): Promise<{ value: Fetched; ttlSecs: number }> {
    try {
      const fetched = await guardedJsonGet(fetchableUrl(url, policy, 'jwks_uri'), policy);
      let set: unknown;
      try {
        set = JSON.parse(fetched.body);
      } catch {
        throw new FetchRefused(`the key set at ${url} is not JSON`);
      }
      const problem = keySetProblem(set, MAX_KEYS);
      if (problem) throw new FetchRefused(`the key set at ${url} ${problem}`);
      return { value: { keys: createLocalJWKSet(set as JSONWebKeySet) }, ttlSecs: cacheSecs(fetched.maxAgeSecs, TTL) };
    } catch (err) {
      if (!(err instanceof FetchRefused)) throw err;
      return { value: { error: err }, ttlSecs: FAILURE_TTL_SECS };
    }
  }
}

function keyOf(fetched: Fetched, ...args: Parameters<JWTVerifyGetKey>): ReturnType<JWTVerifyGetKey> {
  if ('error' in fetched) throw fetched.error;
  return fetched.keys(...args);
}
