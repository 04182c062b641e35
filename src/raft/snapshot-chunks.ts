// A snapshot travels as a stream of calls, one at a time and each acknowledged: the state
// machine's chunks (at most about a megabyte each, read from its store as they are sent), then a
// last call carrying the Snap message itself. Neither side ever holds the whole state: the receiver
// writes each chunk into a restore before acknowledging it, and hands the Snap message to the core
// only once the restore is finished. A chunk out of order (one was lost, the sender restarted, or
// another leader started a transfer) ends that transfer; the sender's failed call makes the leader
// try again.

/** The call metadata of one call of a transfer: its id, its place, and whether it is the last (the Snap message). */
export type ChunkMeta = Record<string, string>;

export function chunkMeta(id: string, seq: number, last: boolean): ChunkMeta {
  return last ? { id, seq: String(seq), last: '1' } : { id, seq: String(seq) };
}

/**
 * The receiving side. One transfer at a time for the whole node (a restore writes one place): the
 * first call of a new transfer, from any sender, drops the one in progress.
 */
export class SnapshotReceiver<R> {
  private current: { from: string; id: string; next: number; restore: R } | null = null;

  private readonly begin: () => R;
  private readonly drop: (restore: R) => void;
  constructor(begin: () => R, drop: (restore: R) => void) {
    this.begin = begin;
    this.drop = drop;
  }

  /**
   * Takes call `meta` from `from`: the restore to write its chunk into (or, for the last call, to
   * finish: the transfer is then no longer in progress), or undefined when the call is out of order.
   */
  accept(from: string, meta: ChunkMeta): R | undefined {
    const seq = Number(meta.seq);
    if (seq === 0) {
      this.dropCurrent();
      this.current = { from, id: meta.id ?? '', next: 0, restore: this.begin() };
    }
    const c = this.current;
    if (!c || c.from !== from || c.id !== meta.id || c.next !== seq) {
      if (c && c.from === from) this.dropCurrent();
      return undefined;
    }
    c.next++;
    if (meta.last === '1') this.current = null;
    return c.restore;
  }

  /** Ends the transfer in progress, if any (the node stops). */
  dropCurrent(): void {
    if (this.current) this.drop(this.current.restore);
    this.current = null;
  }
}
