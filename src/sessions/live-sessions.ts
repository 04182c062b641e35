import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { LiveSession } from '../sandbox/index.ts';

/** A warm isolate and the state (head) it currently holds. */
export interface WarmSession {
  live: LiveSession;
  head: string | null;
  memoryMb: number;
}

export interface LiveSessionsOptions {
  maxCount: number;
  /** Budget for the heap the warm isolates hold, as measured when each goes back into the LRU. */
  maxMemoryMb: number;
}

/**
 * The default heap budget of the warm sessions: a quarter of the memory this process may use. A warm
 * session at rest holds ~2 MB of heap in memory (~1.8 MB of resident memory, bench/RESULTS.md), so a
 * fixed budget either wasted a large machine or crowded a small one; 1,000 agents each on its own
 * session need ~2 GB warm, or every step rebuilds its session.
 */
export function defaultWarmMemoryMb(): number {
  const constrained = process.constrainedMemory();
  const available = constrained > 0 && constrained < totalmem() ? constrained : totalmem();
  return Math.floor(available / 4 / (1024 * 1024));
}

/**
 * Memory mappings a warm session's isolate holds: 11 for a new one (measured over 1,000), more as
 * its heap grows. The kernel's per-process limit, vm.max_map_count (65,530 by default), ends a node
 * before memory does: past ~4,500 warm sessions V8 cannot map a new isolate's heap and aborts the
 * whole process (measured, bench/idle-sessions.ts). A context in a shared isolate adds its heap's
 * pages to the isolate's: ~1.2 maps a session with 16 or 32 to an isolate (measured over 400).
 */
const MAPS_PER_ISOLATE = 14;
const MAPS_PER_SHARED_CONTEXT = 1.5;
// What warm sessions may take of the limit; the rest is for the pool, WebAssembly memories, LevelDB and Node.
const WARM_SHARE_OF_MAPS = 0.75;

/**
 * The warm-session count this process can hold: `configured`, or less where vm.max_map_count says so
 * (Linux), for `sessionsPerIsolate` sessions to an isolate.
 */
export function warmCountLimit(configured: number, sessionsPerIsolate = 1, mapLimitFile = '/proc/sys/vm/max_map_count'): number {
  let maxMaps: number;
  try {
    maxMaps = Number(readFileSync(mapLimitFile, 'utf8').trim());
  } catch {
    return configured; // not Linux: no such limit to respect
  }
  if (!Number.isFinite(maxMaps) || maxMaps <= 0) return configured;
  const mapsPerSession = sessionsPerIsolate > 1 ? MAPS_PER_ISOLATE / sessionsPerIsolate + MAPS_PER_SHARED_CONTEXT : MAPS_PER_ISOLATE;
  return Math.min(configured, Math.floor((maxMaps * WARM_SHARE_OF_MAPS) / mapsPerSession));
}

// How many of the least recently used sessions an eviction chooses among, and how much cheaper to
// rebuild (per byte it frees) one must be than the dearest of them to go first.
const EVICTION_WINDOW = 8;
const CHEAPER = 2;

/**
 * The warm isolates on this node, evicted by recency and rebuild cost. A step `take`s its isolate
 * out and `put`s it back when done, so eviction never disposes an isolate that is running, and two
 * steps never use one at once. Past a budget, the victim is the least recently used of the oldest few,
 * unless one of them costs at most 1/CHEAPER as much to rebuild per byte it frees as the dearest:
 * then the oldest such cheap one goes. Sessions of about the same cost leave in LRU order; one with
 * minutes of computation in its history outlasts idle one-line sessions beside it (each of those is a
 * few milliseconds to rebuild), and is still evicted once only sessions as dear are around it.
 */
export class LiveSessions {
  // Insertion order = least recently used first; each with the heap bytes it held when put back and
  // its rebuild cost per byte then.
  private readonly entries = new Map<string, { warm: WarmSession; bytes: number; costPerByte: number }>();
  private bytes = 0;

  private readonly options: LiveSessionsOptions;
  constructor(options: LiveSessionsOptions) {
    this.options = options;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The warm isolate held for `key`, left where it is (a look, not a use: its place in the LRU stays). */
  peek(key: string): WarmSession | undefined {
    const warm = this.entries.get(key)?.warm;
    return warm && !warm.live.disposed ? warm : undefined;
  }

  take(key: string): WarmSession | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.remove(key, entry.bytes);
    return entry.warm.live.disposed ? undefined : entry.warm;
  }

  put(key: string, warm: WarmSession): void {
    this.drop(key);
    if (warm.live.disposed) return;
    let bytes;
    try {
      bytes = warm.live.heapBytes();
    } catch {
      // An isolate that cannot tell its heap is not kept; the journal rebuilds it. Whoever put it
      // back has committed its step already, so this must not throw.
      warm.live.dispose();
      return;
    }
    this.entries.set(key, { warm, bytes, costPerByte: warm.live.rebuildMs() / Math.max(bytes, 1) });
    this.bytes += bytes;
    const maxBytes = this.options.maxMemoryMb * 1024 * 1024;
    while (this.entries.size > this.options.maxCount || this.bytes > maxBytes) this.drop(this.victim(key));
  }

  /** The entry to evict (see the class); `newest`, just put back, only when it is alone. */
  private victim(newest: string): string {
    const window: Array<[string, number]> = [];
    for (const [key, entry] of this.entries) {
      if (window.length === EVICTION_WINDOW) break;
      if (key !== newest) window.push([key, entry.costPerByte]);
    }
    if (window.length === 0) return newest;
    const dearest = Math.max(...window.map(([, cost]) => cost));
    return (window.find(([, cost]) => cost * CHEAPER <= dearest) ?? window[0]!)[0];
  }

  drop(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.remove(key, entry.bytes);
    entry.warm.live.dispose();
  }

  clear(): void {
    for (const key of [...this.entries.keys()]) this.drop(key);
  }

  private remove(key: string, bytes: number): void {
    this.entries.delete(key);
    this.bytes -= bytes;
  }
}
