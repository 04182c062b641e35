// The bounded window of in-flight appends per follower (src/raft/inflights.ts).
import { describe, expect, it } from 'vitest';
import { Inflights } from '../../src/raft/inflights.ts';

describe('Inflights', () => {
  it('fills up to its capacity and frees what was acknowledged, oldest first', () => {
    const w = new Inflights(3);
    w.add(10);
    w.add(20);
    expect(w.full()).toBe(false);
    w.add(30);
    expect(w.full()).toBe(true);
    w.freeLE(19);
    expect(w.count).toBe(2);
    w.freeLE(5); // stale acknowledgement
    expect(w.count).toBe(2);
    w.freeLE(30);
    expect(w.count).toBe(0);
  });

  it('frees its first slot on a heartbeat answer, so a window that lost its messages sends again', () => {
    const w = new Inflights(2);
    w.add(1);
    w.add(2);
    w.freeFirst();
    expect(w.full()).toBe(false);
    expect(w.count).toBe(1);
    w.reset();
    expect(w.count).toBe(0);
  });
});
