// The replicated log as the core sees it: stable storage below, unstable entries on top, plus the
// commit and apply cursors (etcd's log.go).
import { CompactedError, MemoryStorage } from './memory-storage.ts';
import { UnstableLog } from './log-unstable.ts';
import type { LogEntry, Snapshot } from './types.ts';

export class RaftLog {
  readonly unstable: UnstableLog;
  committed: number;
  applied: number;

  readonly storage: MemoryStorage;
  constructor(storage: MemoryStorage) {
    this.storage = storage;
    this.unstable = new UnstableLog(storage.lastIndex() + 1);
    this.committed = storage.firstIndex() - 1;
    this.applied = storage.firstIndex() - 1;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry `i`; undefined when compacted or beyond the end. The entry before firstIndex has a term. */
  term(i: number): number | undefined {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(i) ?? this.storage.term(i);
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry in `ents` that is missing or conflicts with ours; 0 when all match. */
  findConflict(ents: readonly LogEntry[]): number {
    for (const e of ents) if (!this.matchTerm(e.index, e.term)) return e.index;
    return 0;
  }

  /**
   * Largest index ≤ `index` whose term is ≤ `term`, with that term: the fast-backtracking hint
   * (a follower rejecting an append, or the leader narrowing its probe).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.term(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** AppendEntries receiver (§5.3). Returns the last new index, or undefined when prev does not match. */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly LogEntry[]): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) throw new Error(`entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  append(ents: readonly LogEntry[]): number {
    if (ents.length === 0) return this.lastIndex();
    if (ents[0]!.index - 1 < this.committed) throw new Error(`append at ${ents[0]!.index} is before committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) throw new Error(`commit ${i} is beyond last index ${this.lastIndex()}`);
    this.committed = i;
  }

  appliedTo(i: number): void {
    if (i === 0) return;
    if (i > this.committed || i < this.applied) throw new Error(`applied ${i} outside [${this.applied}, ${this.committed}]`);
    this.applied = i;
  }

  /** Entries [lo, hi) across stable and unstable parts. Throws CompactedError when lo < firstIndex. */
  slice(lo: number, hi: number, maxCount = Infinity, maxBytes = Infinity): LogEntry[] {
    if (lo < this.firstIndex()) throw new CompactedError(this.firstIndex() - 1);
    hi = Math.min(hi, this.lastIndex() + 1, lo + maxCount);
    if (lo >= hi) return [];
    let out: LogEntry[] = [];
    const uo = this.unstable.offset;
    if (lo < uo) out = this.storage.entries(lo, Math.min(hi, uo));
    if (hi > uo) out = out.concat(this.unstable.slice(Math.max(lo, uo), hi));
    return limitBytes(out, maxBytes);
  }

  entriesFrom(lo: number, maxCount: number, maxBytes: number): LogEntry[] {
    return this.slice(lo, this.lastIndex() + 1, maxCount, maxBytes);
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  /** Committed entries not yet handed out for application. None while a snapshot is being installed. */
  nextCommittedEnts(maxCount: number): LogEntry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, maxCount);
  }

  hasNextCommittedEnts(): boolean {
    return !this.hasPendingSnapshot() && this.committed > this.applied;
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }
}

function limitBytes(ents: LogEntry[], maxBytes: number): LogEntry[] {
  if (maxBytes === Infinity) return ents;
  let size = 0;
  for (let i = 0; i < ents.length; i++) {
    size += ents[i]!.data.length + 16;
    if (size > maxBytes && i > 0) return ents.slice(0, i); // always at least one entry
  }
  return ents;
}

export { CompactedError };
