// The leader's view of one follower (src/raft/progress.ts), after etcd's tracker/progress_test.go.
import { describe, expect, it } from 'vitest';
import { Progress } from '../../src/raft/progress.ts';

describe('Progress', () => {
  it('probe: one append at a time until an answer; replicate: pipelined up to the window', () => {
    const p = new Progress(6, 2, false);
    expect(p.isPaused()).toBe(false);
    p.sentEntries(1, 6);
    expect(p.isPaused()).toBe(true); // waiting for the probe's answer
    expect(p.maybeUpdate(6)).toBe(true);
    expect(p.isPaused()).toBe(false);
    p.becomeReplicate();
    expect(p.next).toBe(7);
    p.sentEntries(2, 8);
    p.sentEntries(1, 9);
    expect(p.next).toBe(10);
    expect(p.isPaused()).toBe(true); // two messages in flight fill the window
    p.inflights.freeLE(8);
    expect(p.isPaused()).toBe(false);
  });

  it('a stale acknowledgement changes nothing; a newer one moves match and next', () => {
    const p = new Progress(5, 4, false);
    expect(p.maybeUpdate(3)).toBe(true);
    expect(p.maybeUpdate(2)).toBe(false);
    expect(p.match).toBe(3);
    expect(p.next).toBe(5);
    p.maybeUpdate(7);
    expect([p.match, p.next]).toEqual([7, 8]);
  });

  it('a rejection in probe jumps to the follower hint, never below match + 1; a stale one is ignored', () => {
    const p = new Progress(11, 4, false);
    p.match = 3;
    expect(p.maybeDecrTo(9, 5)).toBe(false); // not the index we probed (next - 1 = 10)
    expect(p.maybeDecrTo(10, 5)).toBe(true);
    expect(p.next).toBe(6);
    expect(p.maybeDecrTo(5, 0)).toBe(true);
    expect(p.next).toBe(4);
  });

  it('a rejection in replicate falls back to match + 1, unless it is below match', () => {
    const p = new Progress(1, 4, false);
    p.maybeUpdate(5);
    p.becomeReplicate();
    p.sentEntries(3, 9);
    expect(p.maybeDecrTo(4, 0)).toBe(false);
    expect(p.maybeDecrTo(7, 0)).toBe(true);
    expect(p.next).toBe(6);
  });

  it('after a snapshot it probes from just after the snapshot, and is paused while it lands', () => {
    const p = new Progress(3, 4, false);
    p.match = 2;
    p.becomeSnapshot(50);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p.next).toBe(51);
    expect(p.pendingSnapshot).toBe(0);
  });
});
