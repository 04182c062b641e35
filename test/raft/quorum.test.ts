// Majority math (src/raft/quorum.ts), after etcd's quorum tests.
import { describe, expect, it } from 'vitest';
import { committedIndex, hasQuorum, voteResult } from '../../src/raft/quorum.ts';

describe('quorum', () => {
  it('commits the largest index a majority acknowledged; a missing voter counts as 0', () => {
    const acked = new Map([['a', 5], ['b', 3], ['c', 9]]);
    expect(committedIndex(['a', 'b', 'c'], (id) => acked.get(id))).toBe(5);
    expect(committedIndex(['a', 'b', 'c', 'd'], (id) => acked.get(id))).toBe(3); // 4 voters need 3
    expect(committedIndex(['a', 'x', 'y'], (id) => acked.get(id))).toBe(0);
    expect(committedIndex(['c'], (id) => acked.get(id))).toBe(9);
    expect(committedIndex([], () => 0)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('a vote is won with a majority of grants, lost once a majority is out of reach, pending between', () => {
    const voters = ['a', 'b', 'c', 'd', 'e'];
    const votes = (v: Record<string, boolean>) => new Map(Object.entries(v));
    expect(voteResult(voters, votes({ a: true, b: true }))).toBe('pending');
    expect(voteResult(voters, votes({ a: true, b: true, c: true }))).toBe('won');
    expect(voteResult(voters, votes({ a: true, b: false, c: false }))).toBe('pending');
    expect(voteResult(voters, votes({ a: true, b: false, c: false, d: false }))).toBe('lost');
    expect(voteResult([], votes({}))).toBe('won');
  });

  it('has a quorum when a majority is active', () => {
    expect(hasQuorum(['a', 'b', 'c'], (id) => id !== 'c')).toBe(true);
    expect(hasQuorum(['a', 'b', 'c'], (id) => id === 'a')).toBe(false);
    expect(hasQuorum(['a', 'b', 'c', 'd'], (id) => id !== 'd' && id !== 'c')).toBe(false);
  });
});
