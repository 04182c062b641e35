import { afterEach, describe, expect, it } from 'vitest';
import { IsolateShares, LiveSession, ReplayStoppedError, SessionDisposedError } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const sessions: LiveSession[] = [];
async function sharing(shares: IsolateShares, group = 'session:alice', memoryMb = 64): Promise<LiveSession> {
  const s = await LiveSession.create(memoryMb, undefined, shares.take(group, memoryMb));
  sessions.push(s);
  return s;
}
afterEach(() => {
  for (const s of sessions.splice(0)) s.dispose();
});

describe('IsolateShares', () => {
  it('fills one isolate per subject and memory limit up to its capacity, and never mixes subjects', () => {
    const shares = new IsolateShares(3);
    const a = [shares.take('session:alice', 64), shares.take('session:alice', 64), shares.take('session:alice', 64)];
    expect(new Set(a).size).toBe(1);
    const fourth = shares.take('session:alice', 64);
    expect(fourth).not.toBe(a[0]);
    expect(shares.take('session:bob', 64)).not.toBe(fourth);
    expect(shares.take('session:alice', 128)).not.toBe(fourth);
    for (const s of [...a, fourth]) s.leave();
  });

  it('disposes the isolate when its last session leaves, not before', () => {
    const shares = new IsolateShares(2);
    const first = shares.take('session:alice', 64);
    shares.take('session:alice', 64);
    first.leave();
    expect(first.isolate.isDisposed).toBe(false);
    first.leave();
    expect(first.isolate.isDisposed).toBe(true);
    // A share that emptied is not handed out again.
    const next = shares.take('session:alice', 64);
    expect(next).not.toBe(first);
    next.leave();
  });
});

describe('sessions whose contexts share an isolate', () => {
  it('keep their globals, declarations and built-ins apart', async () => {
    const shares = new IsolateShares(2);
    const a = await sharing(shares);
    const b = await sharing(shares);
    await a.run(step('let x = "a"; globalThis.secret = 41; Object.prototype.polluted = true; Array.prototype.push = null; JSON.stringify = () => "patched"'), limits);
    await b.run(step('let x = "b"'), limits);
    const seen = await b.run(step('[x, typeof secret, String(({}).polluted), typeof [].push, JSON.stringify([1]), String(Function("return this")().secret), Object.keys(globalThis).includes("secret")]'), limits);
    expect(seen).toMatchObject({ status: 'completed', result: ['b', 'undefined', 'undefined', 'function', '[1]', 'undefined', false] });
    expect((await a.run(step('[x, secret]'), limits)).result).toEqual(['a', 41]);
  });

  it('charge each step with its own CPU time', async () => {
    const shares = new IsolateShares(2);
    const a = await sharing(shares);
    const b = await sharing(shares);
    // Both at once: b's step waits for a's (one at a time in an isolate), but is not charged for it.
    const [busy, quick] = await Promise.all([a.run(step('let i = 0; while (i < 5e7) i++; i'), limits), b.run(step('1 + 1'), limits)]);
    expect(busy).toMatchObject({ status: 'completed', result: 5e7 });
    expect(quick).toMatchObject({ status: 'completed', result: 2 });
    expect(quick.cpuMs).toBeLessThan(busy.cpuMs / 4);
  });

  it('lose their isolate to a limit one of them hits: the others are disposed, not changed', async () => {
    const shares = new IsolateShares(2);
    const a = await sharing(shares);
    const b = await sharing(shares);
    await b.run(step('let kept = 1'), limits);
    const [stopped, queued] = await Promise.allSettled([a.run(step('while (true) {}'), { ...limits, cpuTimeoutMs: 100 }), b.run(step('kept'), limits)]);
    expect(stopped).toMatchObject({ status: 'fulfilled', value: { status: 'timeout' } });
    // b's step was queued behind a's: it never ran, and says so.
    expect(queued).toMatchObject({ status: 'rejected', reason: expect.any(SessionDisposedError) });
    expect(b.disposed).toBe(true);
  });

  it('say which limit stopped a replay, and that the isolate was shared', async () => {
    const shares = new IsolateShares(2);
    const a = await sharing(shares);
    const b = await sharing(shares);
    await a.run(step('let kept = 1'), limits);
    const replay = b.replay([step('while (true) {}')], { cpuTimeoutMs: 50 });
    await expect(replay).rejects.toBeInstanceOf(ReplayStoppedError);
    await expect(replay).rejects.toMatchObject({ reason: 'timeout', shared: true });
    expect(a.disposed).toBe(true);
  });
});
