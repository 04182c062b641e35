import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const pool = new IsolatePool({ maxIsolates: 3 });
afterAll(() => pool.close());

describe('limits', () => {
  it('stops an infinite loop at the CPU timeout, and the pool keeps working', async () => {
    const outcome = await pool.run(step('while (true) {}'), { ...limits, cpuTimeoutMs: 50 });
    expect(outcome.status).toBe('timeout');
    expect(outcome.error?.name).toBe('TimeoutError');
    expect((await pool.run(step('1 + 1'), limits)).result).toBe(2);
  });

  it('stops an endless microtask loop', async () => {
    const outcome = await pool.run(step('const spin = () => Promise.resolve().then(spin); await spin()'), { ...limits, cpuTimeoutMs: 50 });
    expect(outcome.status).toBe('timeout');
  });

  it('stops at the wall deadline even when the CPU limit is generous', async () => {
    const outcome = await pool.run(step('while (true) {}'), { ...limits, cpuTimeoutMs: 60_000, wallTimeoutMs: 100 });
    expect(outcome.status).toBe('timeout');
    expect((await pool.run(step('2'), limits)).result).toBe(2);
  });

  it('reports memory_limit for a blow-up without affecting concurrent runs', async () => {
    const blowUp = pool.run(step('const keep = []; while (true) keep.push(new Array(10000).fill(keep.length))'), { ...limits, memoryMb: 16 });
    const normal = Array.from({ length: 20 }, (_, i) => pool.run(step(`await new Promise(r => setTimeout(r, 10)); ${i} * 2`), limits));
    const [big, ...rest] = await Promise.all([blowUp, ...normal]);
    expect(big.status).toBe('memory_limit');
    expect(rest.map((o) => o.result)).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect((await pool.run(step('3'), { ...limits, memoryMb: 16 })).result).toBe(3);
  });

  it('treats a failed huge ArrayBuffer allocation as a user error', async () => {
    const outcome = await pool.run(step('new ArrayBuffer(2 ** 40)'), limits);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.name).toBe('RangeError');
  });

  it('cancels a running step through its AbortSignal', async () => {
    const controller = new AbortController();
    const running = pool.run(step('while (true) {}'), { ...limits, cpuTimeoutMs: 60_000, wallTimeoutMs: 60_000 }, controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect((await running).status).toBe('cancelled');
  });

  it('cancels before starting when the signal is already aborted', async () => {
    const outcome = await pool.run(step('1'), limits, AbortSignal.abort());
    expect(outcome.status).toBe('cancelled');
  });

  it('cancels a run still waiting for an isolate, and queued runs when the pool closes', async () => {
    const small = new IsolatePool({ maxIsolates: 1 });
    const stopBusy = new AbortController();
    const busy = small.run(step('while (true) {}'), { ...limits, cpuTimeoutMs: 60_000, wallTimeoutMs: 60_000 }, stopBusy.signal);
    const controller = new AbortController();
    const waiting = small.run(step('1'), limits, controller.signal);
    const queued = small.run(step('2'), limits);
    controller.abort();
    expect((await waiting).status).toBe('cancelled');
    small.close();
    expect((await queued).status).toBe('cancelled');
    expect((await small.run(step('3'), limits)).status).toBe('cancelled');
    stopBusy.abort();
    expect((await busy).status).toBe('cancelled');
    expect(small.stats().isolates).toBe(0);
  });

  it('queues runs beyond the pool size instead of failing them', async () => {
    const small = new IsolatePool({ maxIsolates: 1 });
    try {
      const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => small.run(step(`${i}`), limits)));
      expect(outcomes.map((o) => o.result)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(small.stats()).toMatchObject({ isolates: 1, waiting: 0 });
    } finally {
      small.close();
    }
  });
});

describe('pool sizing', () => {
  it('keys isolates by memory limit and replaces idle ones of another size when full', async () => {
    const sized = new IsolatePool({ maxIsolates: 2 });
    try {
      await sized.prewarm(32, 2);
      expect(sized.stats()).toEqual({ isolates: 2, idle: 2, waiting: 0 });
      const outcomes = await Promise.all([48, 48, 32].map((memoryMb) => sized.run(step('await null; 1'), { ...limits, memoryMb })));
      expect(outcomes.map((o) => o.status)).toEqual(['completed', 'completed', 'completed']);
      expect(sized.stats()).toMatchObject({ isolates: 2, waiting: 0 });
    } finally {
      sized.close();
    }
  });
});
