// The stable half of the log (etcd's storage.go MemoryStorage): entries already persisted by the
// driver, mirrored in memory for the core. The driver loads it from LevelDB at start and the core
// appends to it in advance(), after the driver has synced them — so "stable" is a type here.
import type { ConfState, LogEntry, Snapshot } from './types.ts';

export class CompactedError extends Error {
  constructor(index: number) {
    super(`raft log compacted up to ${index}`);
  }
}

export class MemoryStorage {
  /** ents[0] is a dummy holding the snapshot's index and term; real entries follow it. */
  private ents: LogEntry[];
  private snap: Snapshot;

  constructor(conf: ConfState, snapshot?: Snapshot) {
    this.snap = snapshot ?? { meta: { index: 0, term: 0, conf }, data: new Uint8Array() };
    this.ents = [dummy(this.snap.meta.index, this.snap.meta.term)];
  }

  get offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  /** Term at `i`, or undefined when compacted away or not yet in the log. */
  term(i: number): number | undefined {
    if (i < this.offset || i > this.lastIndex()) return undefined;
    return this.ents[i - this.offset]!.term;
  }

  /** Entries [lo, hi). Throws CompactedError when lo is before the first index. */
  entries(lo: number, hi: number): LogEntry[] {
    if (lo <= this.offset) throw new CompactedError(this.offset);
    return this.ents.slice(lo - this.offset, hi - this.offset);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Appends persisted entries, truncating whatever they overwrite. */
  append(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const last = entries[entries.length - 1]!.index;
    if (last <= this.offset) return; // all compacted already
    const skip = Math.max(0, this.offset + 1 - first);
    const from = first + skip;
    this.ents.length = from - this.offset; // truncate conflicting tail
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  /** Replaces everything with a received snapshot. */
  applySnapshot(s: Snapshot): void {
    this.snap = s;
    this.ents = [dummy(s.meta.index, s.meta.term)];
  }

  /** Records a snapshot taken locally (index ≤ applied); the log itself is compacted separately. */
  setSnapshot(s: Snapshot): void {
    if (s.meta.index <= this.snap.meta.index) return;
    this.snap = s;
  }

  /** Drops entries before `index` (which becomes the dummy). */
  compact(index: number): void {
    if (index <= this.offset) return;
    if (index > this.lastIndex()) throw new Error(`compact ${index} is beyond last index ${this.lastIndex()}`);
    const t = this.term(index)!;
    this.ents = [dummy(index, t), ...this.ents.slice(index - this.offset + 1)];
  }
}

function dummy(index: number, term: number): LogEntry {
  return { index, term, type: 0, data: new Uint8Array() };
}
