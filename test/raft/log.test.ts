// The core's view of the log (src/raft/log.ts): stable storage below, unstable entries on top, and
// the commit and apply cursors; after etcd's log_test.go.
import { describe, expect, it } from 'vitest';
import { RaftLog } from '../../src/raft/log.ts';
import { CompactedError, MemoryStorage } from '../../src/raft/memory-storage.ts';
import { EntryType, type LogEntry, type Snapshot } from '../../src/raft/types.ts';

const e = (index: number, term: number, bytes = 0): LogEntry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(bytes) });
const snap = (index: number, term: number): Snapshot => ({ meta: { index, term, conf: { voters: ['a'], learners: [], addrs: {} } }, data: new Uint8Array() });

/** A log whose stable part holds `stable` (terms of entries 1..n) and unstable part `unstable` after it. */
function logOf(stable: number[], unstable: number[] = []): RaftLog {
  const storage = new MemoryStorage({ voters: ['a'], learners: [], addrs: {} });
  storage.append(stable.map((t, i) => e(i + 1, t)));
  const log = new RaftLog(storage);
  log.append(unstable.map((t, i) => e(stable.length + i + 1, t)));
  return log;
}

describe('RaftLog', () => {
  it('reads terms across the stable and unstable parts', () => {
    const log = logOf([1, 1, 2], [2, 3]);
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(5);
    expect([0, 1, 3, 4, 5, 6].map((i) => log.term(i))).toEqual([0, 1, 2, 2, 3, undefined]);
    expect(log.slice(2, 6).map((x) => `${x.index}/${x.term}`)).toEqual(['2/1', '3/2', '4/2', '5/3']);
  });

  it('§5.4.1: a log is up to date when its last term is higher, or equal with an index at least as long', () => {
    const log = logOf([1, 2, 2]);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });

  it('§5.3: an append whose previous entry does not match is refused; a conflicting suffix is replaced', () => {
    const log = logOf([1, 1, 2]);
    expect(log.maybeAppend(3, 1, 0, [e(4, 3)])).toBeUndefined(); // entry 3 has term 2
    expect(log.maybeAppend(2, 1, 3, [e(3, 3), e(4, 3)])).toBe(4);
    expect([3, 4].map((i) => log.term(i))).toEqual([3, 3]);
    expect(log.committed).toBe(3); // commit follows the leader, bounded by what was appended
    expect(log.maybeAppend(4, 3, 10, [])).toBe(4);
    expect(log.committed).toBe(4);
  });

  it('refuses to overwrite or append below the commit index', () => {
    const log = logOf([1, 1, 1]);
    log.commitTo(2);
    expect(() => log.maybeAppend(1, 1, 2, [e(2, 2)])).toThrow(/conflicts with committed/);
    expect(() => log.append([e(2, 2)])).toThrow(/before committed/);
    expect(() => log.commitTo(9)).toThrow(/beyond last index/);
  });

  it('finds the first conflicting entry, and the fast-backtracking hint by term', () => {
    const log = logOf([1, 1, 2, 2, 3]);
    expect(log.findConflict([e(2, 1), e(3, 2)])).toBe(0);
    expect(log.findConflict([e(3, 2), e(4, 3)])).toBe(4);
    expect(log.findConflict([e(5, 3), e(6, 3)])).toBe(6); // missing counts as a conflict
    expect(log.findConflictByTerm(5, 2)).toEqual({ index: 4, term: 2 });
    expect(log.findConflictByTerm(5, 1)).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(5, 0)).toEqual({ index: 0, term: 0 });
  });

  it('hands out committed entries once each, and none while a snapshot is pending', () => {
    const log = logOf([1, 1, 1, 1]);
    log.commitTo(3);
    expect(log.nextCommittedEnts(2).map((x) => x.index)).toEqual([1, 2]);
    log.appliedTo(2);
    expect(log.nextCommittedEnts(10).map((x) => x.index)).toEqual([3]);
    log.appliedTo(3);
    expect(log.hasNextCommittedEnts()).toBe(false);
    expect(() => log.appliedTo(4)).toThrow(/outside/);
    log.restore(snap(10, 2));
    expect(log.hasPendingSnapshot()).toBe(true);
    expect(log.nextCommittedEnts(10)).toEqual([]);
    expect(log.committed).toBe(10);
    expect(log.firstIndex()).toBe(11);
  });

  it('limits a slice by count and bytes, but always returns at least one entry', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [], addrs: {} });
    storage.append([e(1, 1, 100), e(2, 1, 100), e(3, 1, 100)]);
    const log = new RaftLog(storage);
    expect(log.slice(1, 4, 2).map((x) => x.index)).toEqual([1, 2]);
    expect(log.slice(1, 4, Infinity, 250).map((x) => x.index)).toEqual([1, 2]);
    expect(log.slice(1, 4, Infinity, 10).map((x) => x.index)).toEqual([1]);
  });

  it('says where the log was compacted', () => {
    const storage = new MemoryStorage({ voters: ['a'], learners: [], addrs: {} });
    storage.append([1, 1, 1, 1].map((t, i) => e(i + 1, t)));
    storage.compact(2);
    const log = new RaftLog(storage);
    expect(log.firstIndex()).toBe(3);
    expect(log.term(2)).toBe(1); // the entry before the first still has a term
    expect(log.term(1)).toBeUndefined();
    expect(() => log.slice(2, 4)).toThrow(CompactedError);
  });
});
