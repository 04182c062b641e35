import { LRUCache } from 'lru-cache';
import type { Json } from './types.ts';

/** The default memory the cache of cold values may hold. */
export const DEFAULT_CACHE_BYTES = 32 << 20;

/**
 * Recently read or written cold values, bounded by the size of their JSON text (a stand-in for
 * their memory). A miss is a LevelDB read. An absent key is cached too (as `{ value: undefined }`),
 * so existence checks of missing keys stay off the disk.
 */
export class ValueCache {
  private readonly lru: LRUCache<string, { value: Json | undefined }>;

  constructor(maxBytes = DEFAULT_CACHE_BYTES) {
    this.lru = new LRUCache({ maxSize: Math.max(1, maxBytes) });
  }

  /** The cached entry: `undefined` when not cached, `{ value: undefined }` when known absent. */
  peek(key: string): { value: Json | undefined } | undefined {
    return this.lru.get(key);
  }

  set(key: string, value: Json | undefined, textLength: number): void {
    this.lru.set(key, { value }, { size: key.length + 16 + textLength });
  }

  clear(): void {
    this.lru.clear();
  }
}
