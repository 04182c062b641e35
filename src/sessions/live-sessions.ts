import type { LiveSession } from '../sandbox/index.ts';

/** A warm isolate and the state (head) it currently holds. */
export interface WarmSession {
  live: LiveSession;
  head: string | null;
  memoryMb: number;
}

export interface LiveSessionsOptions {
  maxCount: number;
  /** Budget for the sum of the isolates' memory limits: an upper bound of what they may hold. */
  maxMemoryMb: number;
}

/**
 * The LRU of warm isolates on this node. A step `take`s its isolate out and `put`s it back when done,
 * so eviction never disposes an isolate that is running, and two users never share one.
 */
export class LiveSessions {
  private readonly entries = new Map<string, WarmSession>(); // insertion order = least recently used first
  private memoryMb = 0;

  constructor(private readonly options: LiveSessionsOptions) {}

  get size(): number {
    return this.entries.size;
  }

  take(key: string): WarmSession | undefined {
    const entry = this.entries.get(key);
    if (entry) this.remove(key, entry);
    return entry?.live.disposed ? undefined : entry;
  }

  put(key: string, entry: WarmSession): void {
    this.drop(key);
    if (entry.live.disposed) return;
    this.entries.set(key, entry);
    this.memoryMb += entry.memoryMb;
    for (const [oldKey, old] of this.entries) {
      if (this.entries.size <= this.options.maxCount && this.memoryMb <= this.options.maxMemoryMb) break;
      this.drop(oldKey, old);
    }
  }

  drop(key: string, entry = this.entries.get(key)): void {
    if (!entry) return;
    this.remove(key, entry);
    entry.live.dispose();
  }

  clear(): void {
    for (const key of [...this.entries.keys()]) this.drop(key);
  }

  private remove(key: string, entry: WarmSession): void {
    this.entries.delete(key);
    this.memoryMb -= entry.memoryMb;
  }
}
