/**
 * What a node fetched (client metadata documents, key sets), kept in memory until it expires. Bounded
 * in entries, the least recently used evicted; one fetch per key at a time, concurrent lookups share it.
 * Nothing here is replicated: every node fetches for itself.
 */
export class FetchCache<T> {
  readonly #maxEntries: number;
  readonly #nowSecs: () => number;
  /** Insertion order is recency: a hit moves its entry to the end, the first entry is evicted. */
  readonly #entries = new Map<string, { value: T; fetchedAt: number; expiresAt: number }>();
  readonly #inflight = new Map<string, Promise<T>>();

  constructor(maxEntries: number, nowSecs: () => number) {
    this.#maxEntries = maxEntries;
    this.#nowSecs = nowSecs;
  }

  /** The unexpired value of `key`, else what `load` answers, kept for the `ttlSecs` it says. `reload` skips the cached value. */
  get(key: string, load: () => Promise<{ value: T; ttlSecs: number }>, reload = false): Promise<T> {
    const hit = this.#entries.get(key);
    if (!reload && hit && hit.expiresAt > this.#nowSecs()) {
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return Promise.resolve(hit.value);
    }
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = load()
        .then(({ value, ttlSecs }) => {
          const now = this.#nowSecs();
          this.#entries.delete(key);
          this.#entries.set(key, { value, fetchedAt: now, expiresAt: now + ttlSecs });
          if (this.#entries.size > this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
          return value;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Seconds since `key` was last fetched; Infinity when it is not cached. */
  ageSecs(key: string): number {
    const hit = this.#entries.get(key);
    return hit ? this.#nowSecs() - hit.fetchedAt : Infinity;
  }
}
