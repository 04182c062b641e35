import { describe, expect, it } from 'vitest';
import { LiveSession } from '../../src/sandbox/index.ts';
import { LiveSessions } from '../../src/sessions/live-sessions.ts';

describe('LiveSessions', () => {
  it('evicts the least recently used isolates past the count and the memory budget, disposing them', async () => {
    const lru = new LiveSessions({ maxCount: 3, maxMemoryMb: 40 });
    const make = async (memoryMb: number) => ({ live: await LiveSession.create(memoryMb), head: null, memoryMb });
    const a = await make(16);
    const b = await make(16);
    lru.put('a', a);
    lru.put('b', b);
    expect(lru.take('a')).toBe(a); // taken out: a running step holds it, eviction cannot touch it
    lru.put('a', a); // back as the most recent
    const c = await make(16); // 48 MB > 40: the least recently used (b) goes
    lru.put('c', c);
    expect(b.live.disposed).toBe(true);
    expect(lru.take('b')).toBeUndefined();
    expect(lru.size).toBe(2);
    const d = await make(8);
    const e = await make(8);
    lru.put('d', d); // 40 MB: fits
    lru.put('e', e); // 4 entries > 3: a goes
    expect(a.live.disposed).toBe(true);
    expect([c, d, e].every((x) => !x.live.disposed)).toBe(true);
    lru.clear();
    expect([c, d, e].every((x) => x.live.disposed)).toBe(true);
  });
});
