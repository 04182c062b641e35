import type { Command, Json, ReplicatedState, Tx } from '../store/index.ts';

/**
 * What keeps a session's state objects alive, and how the ones nothing keeps are collected — all in
 * the replicated state, so every replica collects exactly the same objects, in bounded batches.
 *
 *   ref/<id>      cold: how many hold state object <id>: its children, and the session head on it
 *                 (absent for objects from before counts were kept: those are never collected)
 *   gc/<n>        cold: a release of one reference to { heap, release } (release 0: only look again);
 *                 read from its head on disk, so a backlog the leader has not drained costs no memory
 *   gcmeta        { next, size }: the next n, and how many releases wait (size is counted from the
 *                 first release queued by a version that counts; older entries are not in it)
 *
 * A step adds a reference to its parent and gives its object one for its session head; moving a
 * head, deleting or expiring a session releases the old head through the queue, never at once, so no
 * command does unbounded work. `session.collect` takes the queue's first releases and the chains of
 * parents the proposer expects them to free, and deletes each object whose count reaches zero,
 * unless a retained execution record still names it (then it is looked at again later).
 */

export interface ExpireCommand extends Command {
  type: 'session.expire';
  /** The proposer's clock: sessions whose last step is older than `now - ttlMs` expire. */
  now: number;
  ttlMs: number;
  limit: number;
}

export interface CollectCommand extends Command {
  type: 'session.collect';
  /** Queue entries to process, each with the ancestors the proposer expects it to free, in order. */
  chains: Array<{ seq: number; heaps: string[] }>;
}

interface Release {
  heap: string;
  release: number;
  [field: string]: Json | undefined;
}

export const REF_PREFIX = 'ref/';
export const GC_PREFIX = 'gc/';
const GC_META = 'gcmeta';
export const refKey = (heap: string) => REF_PREFIX + heap;
// Zero-padded so that a scan (key order) is the queue's order.
export const gcKey = (n: number) => GC_PREFIX + String(n).padStart(12, '0');

/** Whether a retained execution record names a state object (records keep their retention). */
export type HeldByRecords = (tx: Tx, heap: string) => boolean;

/** Adds a reference to `heap` (not to an object from before counts were kept). */
export function addRef(tx: Tx, heap: string): void {
  const count = tx.get(refKey(heap)) as number | undefined;
  if (count !== undefined) tx.put(refKey(heap), count + 1);
}

interface GcMeta {
  next: number;
  size?: number;
  [field: string]: Json | undefined;
}

const gcMeta = (tx: Tx): GcMeta => (tx.get(GC_META) as GcMeta | undefined) ?? { next: 0 };

/** Queues the release of `release` references to `heap` (0: look at it again). */
export function enqueueRelease(tx: Tx, heap: string, release: number): void {
  const meta = gcMeta(tx);
  tx.put(gcKey(meta.next), { heap, release } satisfies Release);
  tx.put(GC_META, { next: meta.next + 1, size: (meta.size ?? 0) + 1 });
}

/** Counts `taken` releases out of the queue (their entries deleted already): once per command, not per entry. */
function shrinkQueue(tx: Tx, taken: number): void {
  const meta = gcMeta(tx);
  tx.put(GC_META, { next: meta.next, size: Math.max(0, (meta.size ?? 0) - taken) });
}

/** How many releases wait in the queue (`raftbox_session_collect_queue`). */
export function queuedReleases(state: ReplicatedState, module: string): number {
  return (state.get(module, GC_META) as GcMeta | undefined)?.size ?? 0;
}

/** The cold keys a collect reads: its queue entries, every object of every chain and its count. */
export function collectReads(cmd: CollectCommand, heapKey: (id: string) => string): string[] {
  return cmd.chains.flatMap((c) => [gcKey(c.seq), ...c.heaps.flatMap((h) => [heapKey(h), refKey(h)])]);
}

export function applyExpire(cmd: ExpireCommand, tx: Tx, names: string, release: (tx: Tx, head: string) => void): Json {
  let expired = 0;
  for (const [key, value] of tx.scan(names)) {
    if (expired >= cmd.limit) break;
    const head = value as { head: string; updatedAt: string };
    if (Date.parse(head.updatedAt) + cmd.ttlMs > cmd.now) continue;
    tx.del(key);
    release(tx, head.head);
    expired++;
  }
  return { expired };
}

/** How collection sees the sessions module: where objects live, who holds them, what to do with one it deletes. */
export interface CollectHooks {
  heapKey(id: string): string;
  held: HeldByRecords;
  collected(tx: Tx, id: string, object: Json): void;
}

export function applyCollect(cmd: CollectCommand, tx: Tx, hooks: CollectHooks): Json {
  const { heapKey, held } = hooks;
  let collected = 0;
  let released = 0;
  let taken = 0;
  for (const chain of cmd.chains) {
    const queued = tx.get(gcKey(chain.seq)) as Release | undefined;
    if (!queued || queued.heap !== chain.heaps[0]) continue; // done already (a retried proposal)
    tx.del(gcKey(chain.seq));
    taken++;
    released += queued.release;
    let at: string | null = queued.heap;
    let release = queued.release;
    for (let i = 0; at !== null; i++) {
      const stored = tx.get(refKey(at)) as number | undefined;
      if (stored === undefined) break; // no count kept: never collected
      const count = stored - release;
      if (count > 0) {
        tx.put(refKey(at), count);
        break;
      }
      const object = tx.get(heapKey(at)) as { parent: string | null } | undefined;
      if (!object) break; // collected already
      if (held(tx, at)) {
        tx.put(refKey(at), 0);
        enqueueRelease(tx, at, 0);
        break;
      }
      tx.del(heapKey(at));
      hooks.collected(tx, at, object as Json);
      tx.del(refKey(at));
      collected++;
      const parent: string | null = object.parent;
      if (parent === null) break;
      // The proposer read this parent too: go on with it here; otherwise its release waits in the queue.
      if (chain.heaps[i + 1] !== parent) {
        enqueueRelease(tx, parent, 1);
        break;
      }
      at = parent;
      release = 1;
    }
  }
  if (taken > 0) shrinkQueue(tx, taken);
  // Nothing collected and nothing released: only objects records still hold were looked at.
  return { collected, released };
}
