import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LiveSession } from '../../src/sandbox/index.ts';
import { LiveSessions, warmCountLimit } from '../../src/sessions/live-sessions.ts';
import { tempDir } from '../support/index.ts';

const make = async () => ({ live: await LiveSession.create(64), head: null, memoryMb: 64 });
const limits = { memoryMb: 64, cpuTimeoutMs: 5_000, wallTimeoutMs: 10_000, maxOutputBytes: 1_000 };

describe('LiveSessions', () => {
  it('evicts the least recently used isolates past the count, disposing them, never one that is taken', async () => {
    const lru = new LiveSessions({ maxCount: 2, maxMemoryMb: 1024 });
    const [a, b, c] = [await make(), await make(), await make()];
    lru.put('a', a);
    lru.put('b', b);
    expect(lru.take('a')).toBe(a); // taken out: a running step holds it, eviction cannot touch it
    lru.put('c', c);
    expect(a.live.disposed).toBe(false);
    lru.put('a', a); // back as the most recent: b is now the least recently used
    expect(b.live.disposed).toBe(true);
    expect(lru.take('b')).toBeUndefined();
    expect(lru.size).toBe(2);
    lru.clear();
    expect([a, c].every((x) => x.live.disposed)).toBe(true);
  });

  it('evicts a session cheap to rebuild before an older one with much computation in its history, and dear ones in LRU order', async () => {
    const lru = new LiveSessions({ maxCount: 2, maxMemoryMb: 1024 });
    const heavy = async () => {
      const w = await make();
      // Tens of milliseconds of CPU: a rebuild would take as long, against ~3 ms for a one-line session.
      await w.live.run({ code: 'let i = 0; while (i < 5e7) i++; i', language: 'js', seed: 's', clock: 0 }, limits);
      return w;
    };
    const [old, light] = [await heavy(), await make()];
    lru.put('old', old);
    lru.put('light', light);
    lru.put('new', await make());
    expect(old.live.disposed).toBe(false); // the least recently used, but dear
    expect(light.live.disposed).toBe(true);

    const second = await heavy();
    lru.put('second', second); // 'new' is the cheap one beside 'old' now
    expect(old.live.disposed).toBe(false);
    expect(lru.take('new')).toBeUndefined();
    const third = await heavy();
    lru.put('third', third); // only dear ones left: the least recently used goes
    expect([old, second, third].map((w) => w.live.disposed)).toEqual([true, false, false]);
    lru.clear();
  });

  it('budgets memory by the heap the isolates really hold, not by their limits', async () => {
    // Five idle 64 MB-limit isolates fit in 24 MB: each holds about 2 MB.
    const lru = new LiveSessions({ maxCount: 100, maxMemoryMb: 24 });
    const idle = await Promise.all([1, 2, 3, 4, 5].map(make));
    idle.forEach((w, i) => lru.put(`idle${i}`, w));
    expect(idle.every((w) => !w.live.disposed)).toBe(true);

    // One that holds ~16 MB pushes out the least recently used until the total fits again.
    const big = await make();
    await big.live.run({ code: 'globalThis.buf = new Float64Array(2_000_000); buf.length', language: 'js', seed: 's', clock: 0 }, limits);
    lru.put('big', big);
    expect(big.live.disposed).toBe(false);
    expect(idle[0]!.live.disposed).toBe(true);
    expect(idle[4]!.live.disposed).toBe(false);
    lru.clear();
  });
});

describe('warmCountLimit', () => {
  it('caps the warm count where the kernel map limit would abort the process first, and only then', async () => {
    const dir = await tempDir('raftbox-map-limit-');
    const file = join(dir, 'max_map_count');
    try {
      await writeFile(file, '65530\n');
      expect(warmCountLimit(10_000, 1, file)).toBe(3_510); // 75 % of the limit, 14 maps a session
      expect(warmCountLimit(2_000, 1, file)).toBe(2_000);
      // 16 sessions to an isolate: 14 / 16 + 1.5 maps a session.
      expect(warmCountLimit(100_000, 16, file)).toBe(20_693);
      await writeFile(file, '1048576\n');
      expect(warmCountLimit(10_000, 1, file)).toBe(10_000);
      expect(warmCountLimit(10_000, 1, join(dir, 'absent'))).toBe(10_000); // no such file: not Linux
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
