// The not-yet-synced half of the log (src/raft/log-unstable.ts), after etcd's log_unstable_test.go.
import { describe, expect, it } from 'vitest';
import { UnstableLog } from '../../src/raft/log-unstable.ts';
import { EntryType, type LogEntry, type Snapshot } from '../../src/raft/types.ts';

const e = (index: number, term: number): LogEntry => ({ index, term, type: EntryType.Normal, data: new Uint8Array() });
const snap = (index: number, term: number): Snapshot => ({ meta: { index, term, conf: { voters: ['a'], learners: [], addrs: {} } }, data: new Uint8Array() });
const indexes = (u: UnstableLog) => u.entries.map((x) => `${x.index}/${x.term}`);

describe('UnstableLog', () => {
  it('knows first and last index only from what it holds', () => {
    const u = new UnstableLog(5);
    expect(u.maybeFirstIndex()).toBeUndefined();
    expect(u.maybeLastIndex()).toBeUndefined();
    u.truncateAndAppend([e(5, 1), e(6, 1)]);
    expect(u.maybeFirstIndex()).toBeUndefined(); // the first index comes from a snapshot only
    expect(u.maybeLastIndex()).toBe(6);
    u.restore(snap(10, 2));
    expect(u.maybeFirstIndex()).toBe(11);
    expect(u.maybeLastIndex()).toBe(10);
  });

  it('answers terms for its entries and its snapshot index, nothing else', () => {
    const u = new UnstableLog(5);
    u.restore(snap(4, 1));
    u.truncateAndAppend([e(5, 1), e(6, 2)]);
    expect([3, 4, 5, 6, 7].map((i) => u.maybeTerm(i))).toEqual([undefined, 1, 1, 2, undefined]);
  });

  it('appends after its tail, replaces everything from an earlier index, or truncates in the middle', () => {
    const u = new UnstableLog(5);
    u.truncateAndAppend([e(5, 1), e(6, 1), e(7, 1)]);
    u.truncateAndAppend([e(8, 1)]);
    expect(indexes(u)).toEqual(['5/1', '6/1', '7/1', '8/1']);
    u.truncateAndAppend([e(7, 2), e(8, 2)]);
    expect(indexes(u)).toEqual(['5/1', '6/1', '7/2', '8/2']);
    u.truncateAndAppend([e(4, 3)]); // before offset: shadows stable entries from 4 on
    expect(u.offset).toBe(4);
    expect(indexes(u)).toEqual(['4/3']);
  });

  it('drops entries once synced, unless a newer term overwrote them meanwhile', () => {
    const u = new UnstableLog(5);
    u.truncateAndAppend([e(5, 1), e(6, 1), e(7, 1)]);
    u.stableTo(6, 2); // wrong term: an overwrite happened after that Ready
    expect(indexes(u)).toEqual(['5/1', '6/1', '7/1']);
    u.stableTo(6, 1);
    expect(u.offset).toBe(7);
    expect(indexes(u)).toEqual(['7/1']);
    u.stableTo(4, 1); // below the offset: already stable
    expect(u.offset).toBe(7);
  });

  it('forgets a snapshot once that one is synced, not an older one', () => {
    const u = new UnstableLog(1);
    u.restore(snap(10, 2));
    u.stableSnapTo(9);
    expect(u.snapshot?.meta.index).toBe(10);
    u.stableSnapTo(10);
    expect(u.snapshot).toBeUndefined();
  });

  it('slices by log index', () => {
    const u = new UnstableLog(5);
    u.truncateAndAppend([e(5, 1), e(6, 1), e(7, 1)]);
    expect(u.slice(6, 8).map((x) => x.index)).toEqual([6, 7]);
  });
});
