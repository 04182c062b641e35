// The porcupine-style checker: hand-made histories, and the simulator's deliberately broken reads.
import { describe, expect, it } from 'vitest';
import { checkLinearizable, kvModel, type KvInput, type KvOutput, type Operation } from './sim/linearizability.ts';
import { runSeed } from './sim/simulation.ts';

const put = (client: number, key: string, value: string, call: number, ret: number): Operation<KvInput, KvOutput> => ({
  client,
  input: { type: 'put', key, value },
  output: { value: null },
  call,
  ret,
});
const get = (client: number, key: string, value: string | null, call: number, ret: number): Operation<KvInput, KvOutput> => ({
  client,
  input: { type: 'get', key },
  output: { value },
  call,
  ret,
});

describe('linearizability checker', () => {
  it('accepts a read concurrent with a write seeing either value', () => {
    expect(checkLinearizable(kvModel, [put(0, 'x', 'a', 0, 10), get(1, 'x', 'a', 5, 6)])).toBe('ok');
    expect(checkLinearizable(kvModel, [put(0, 'x', 'a', 0, 10), get(1, 'x', null, 5, 6)])).toBe('ok');
  });

  it('rejects a stale read that starts after the write returned', () => {
    expect(checkLinearizable(kvModel, [put(0, 'x', 'a', 0, 10), get(1, 'x', null, 11, 12)])).toBe('illegal');
  });

  it('rejects reads that go back in time', () => {
    const h = [put(0, 'x', 'a', 0, 1), put(0, 'x', 'b', 2, 20), get(1, 'x', 'b', 3, 4), get(2, 'x', 'a', 5, 6)];
    expect(checkLinearizable(kvModel, h)).toBe('illegal');
  });

  it('lets an unacknowledged write take effect or not', () => {
    expect(checkLinearizable(kvModel, [put(0, 'x', 'a', 0, Infinity), get(1, 'x', 'a', 5, 6)])).toBe('ok');
    expect(checkLinearizable(kvModel, [put(0, 'x', 'a', 0, Infinity), get(1, 'x', null, 5, 6)])).toBe('ok');
  });

  it('checks keys independently', () => {
    const h = [put(0, 'x', 'a', 0, 1), put(0, 'y', 'b', 2, 3), get(1, 'y', 'b', 4, 5), get(1, 'x', null, 6, 7)];
    expect(checkLinearizable(kvModel, h)).toBe('illegal');
  });

  it('catches reads served from a follower\'s local state without ReadIndex', () => {
    const caught = [1, 2, 3, 4, 5, 6, 7, 8].filter((seed) => {
      const r = runSeed({ seed, brokenReads: true });
      return !r.ok && /not linearizable/.test(r.error ?? '');
    });
    expect(caught.length).toBeGreaterThanOrEqual(6);
  });
});
