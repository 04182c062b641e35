import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { Fixture } from './fixture.ts';

let f: Fixture;
let node: Domain;
beforeEach(async () => {
  f = await Fixture.open();
  node = await f.node();
});
afterEach(() => f.close());

const WAIT = { waitMs: 10_000 };
const step = (code: string, more: { session?: string; heap?: string; subject?: string } = { session: 'nb' }) =>
  node.executions.run({ code, ...more }, WAIT);

describe('a session behaves like a notebook', () => {
  it('keeps declarations across steps, lets a const be declared again, and numbers the steps', async () => {
    const a = await step('const x = 40; let y = 1; function f() { return x + y } class C { v = 2 }');
    expect(a).toMatchObject({ status: 'completed', session: 'nb', step: 1 });
    expect(a.heap).toMatch(/^[0-9a-f]{64}$/);
    const b = await step('y = y + 1; f() + new C().v');
    expect(b).toMatchObject({ status: 'completed', result: 44, step: 2 });
    const c = await step('const x = 1; x');
    expect(c).toMatchObject({ status: 'completed', result: 1, step: 3 });
    const info = await node.sessions.get('nb');
    expect(info).toMatchObject({ name: 'nb', heap: c.heap, steps: 3 });
    expect(info.journal.map((s) => s.code)).toEqual([
      'const x = 40; let y = 1; function f() { return x + y } class C { v = 2 }',
      'y = y + 1; f() + new C().v',
      'const x = 1; x',
    ]);
  });

  it('keeps the partial effects of a step that throws, live and after replay', async () => {
    const thrown = await step('let a = 1; globalThis.b = 2; throw new Error("boom")');
    expect(thrown).toMatchObject({ status: 'failed', step: 1, error: { message: 'boom' } });
    expect(await step('a + b')).toMatchObject({ status: 'completed', result: 3, step: 2 });
    await f.restart();
    node = await f.node();
    expect(await step('a + b')).toMatchObject({ status: 'completed', result: 3, step: 3 });
  });

  it('leaves the session at its previous state after a timeout or the memory cap, and rebuilds the isolate', async () => {
    await node.executions.run({ code: 'let n = 1; const seen = Math.random()', session: 'nb', memoryMb: 16 }, WAIT);
    const before = (await node.sessions.get('nb')).heap;
    const timedOut = await node.executions.run({ code: 'n = 99; while (true) {}', session: 'nb', timeoutSecs: 0.2 }, WAIT);
    expect(timedOut).toMatchObject({ status: 'timeout', session: 'nb', heap: before, step: null });
    const blown = await node.executions.run(
      { code: 'n = 98; const hog = []; while (true) hog.push(new Array(1e5).fill(n))', session: 'nb' },
      WAIT,
    );
    expect(blown).toMatchObject({ status: 'memory_limit', heap: before, step: null });
    expect((await node.sessions.get('nb')).steps).toBe(1);
    expect(await step('n')).toMatchObject({ status: 'completed', result: 1, step: 2 });
    // The stopped steps are still on record as executions.
    const { executions } = await node.executions.list({ session: 'nb' });
    expect(executions.map((e) => e.status)).toEqual(['completed', 'memory_limit', 'timeout', 'completed']);
  });

  it('keeps a chain at the memory limit of its first step, so replay runs under the same limit', async () => {
    await node.executions.run({ code: 'globalThis.big = new Array(1e6).fill(7)', session: 'nb', memoryMb: 128 }, WAIT);
    await expect(node.executions.run({ code: 'big.length', session: 'nb', memoryMb: 16 }, WAIT)).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/session nb runs with heap_memory_max_mb 128/),
    });
    expect(await node.executions.run({ code: 'big.length', session: 'nb', memoryMb: 128 }, WAIT)).toMatchObject({ result: 1e6, step: 2 });
    await f.restart();
    node = await f.node();
    expect(await node.executions.run({ code: 'big[5]', session: 'nb' }, WAIT)).toMatchObject({ result: 7, step: 3 });
  });

  it('forks a new chain from an earlier state, and moves a named session onto a branch', async () => {
    const one = await step('let x = 1; const r = Math.random()');
    await step('x = 2');
    const fork = await step('x', { heap: one.heap! });
    expect(fork).toMatchObject({ status: 'completed', result: 1, session: null, step: 2 });
    const forkOn = await step('x += 5; x', { heap: fork.heap! });
    expect(forkOn).toMatchObject({ result: 6, session: null, step: 3 });
    // The named session still has its own head.
    expect(await step('x')).toMatchObject({ result: 2, step: 3 });

    const moved = await step('x = x * 10', { session: 'nb', heap: one.heap! });
    expect(moved).toMatchObject({ result: 10, session: 'nb', step: 2 });
    const info = await node.sessions.get('nb');
    expect(info).toMatchObject({ heap: moved.heap, steps: 2 });
    expect(info.journal.map((s) => s.heap)).toEqual([one.heap, moved.heap]);
    // The seeded randomness of step 1 is the same on every branch.
    const r1 = (await step('r', { heap: one.heap! })).result;
    expect((await step('r')).result).toBe(r1);
  });

  it('never lets Date.now() go back between steps, even when the next node\'s clock is behind', async () => {
    const before = (await step('Date.now()')).result as number;
    const skewed = vi.spyOn(Date, 'now').mockReturnValue(before - 60_000);
    try {
      expect((await step('Date.now()')).result).toBeGreaterThan(before);
    } finally {
      skewed.mockRestore();
    }
  });

  it('refuses an unknown heap, never starting from an empty state', async () => {
    const missing = 'ab'.repeat(32);
    await expect(step('1', { heap: missing })).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(node.executions.run({ code: '1', heap: missing }, { waitMs: 0 })).rejects.toMatchObject({ status: 404 });
    await expect(step('1', { heap: 'not-a-heap' })).rejects.toMatchObject({ status: 400 });
  });

  it('continues a session after a restart by replaying its journal', async () => {
    await step('let xs = []; const seed = Math.random(); const born = Date.now()');
    for (let i = 0; i < 5; i++) await step(`xs.push(${i} * seed)`);
    const before = (await step('JSON.stringify({ xs, seed, born })')).result;
    await f.restart();
    node = await f.node();
    const after = await step('JSON.stringify({ xs, seed, born })');
    expect(after).toMatchObject({ status: 'completed', result: before, step: 8 });
  });

  it('rebuilds evicted sessions from the journal', async () => {
    node = await f.node({ liveSessions: { maxCount: 1, maxMemoryMb: 1024 } });
    for (let i = 1; i <= 3; i++) {
      for (const name of ['a', 'b']) {
        const r = await step(i === 1 ? `let c = ${name === 'a' ? 100 : 200}; c` : 'c += 1', { session: name });
        expect(r.result).toBe((name === 'a' ? 100 : 200) + i - 1);
      }
    }
  });

  it('pages the journal and lists sessions', async () => {
    for (let i = 0; i < 5; i++) await step(`globalThis.v${i} = ${i}`);
    await step('1', { session: 'other' });
    const first = await node.sessions.get('nb', { stepsLimit: 2 });
    expect(first.journal.map((s) => s.step)).toEqual([1, 2]);
    const second = await node.sessions.get('nb', { stepsLimit: 2, stepsCursor: first.nextStepsCursor! });
    expect(second.journal.map((s) => s.step)).toEqual([3, 4]);
    const third = await node.sessions.get('nb', { stepsLimit: 2, stepsCursor: second.nextStepsCursor! });
    expect(third.journal.map((s) => s.step)).toEqual([5]);
    expect(third.nextStepsCursor).toBeNull();

    const page = await node.sessions.list({ limit: 1 });
    expect(page.sessions.map((s) => s.name)).toEqual(['nb']);
    expect((await node.sessions.list({ cursor: page.nextCursor! })).sessions.map((s) => s.name)).toEqual(['other']);
  });

  it('deletes a session; the name then starts afresh', async () => {
    await step('let gone = 1');
    await node.sessions.delete('nb');
    await expect(node.sessions.get('nb')).rejects.toMatchObject({ status: 404 });
    await expect(node.sessions.delete('nb')).rejects.toMatchObject({ status: 404 });
    expect(await step('typeof gone')).toMatchObject({ result: 'undefined', step: 1 });
  });

  it('keeps each subject to its own sessions and states', async () => {
    const alice = await step('let secret = 42', { session: 'nb', subject: 'alice' });
    await expect(node.sessions.get('nb', { subject: 'bob' })).rejects.toMatchObject({ status: 404 });
    await expect(node.sessions.delete('nb', 'bob')).rejects.toMatchObject({ status: 404 });
    expect((await node.sessions.list({ subject: 'bob' })).sessions).toEqual([]);
    await expect(step('secret', { heap: alice.heap!, subject: 'bob' })).rejects.toMatchObject({ status: 404 });
    // The same name is a different session for another subject.
    expect(await step('typeof secret', { session: 'nb', subject: 'bob' })).toMatchObject({ result: 'undefined', step: 1 });
    expect(await step('secret', { session: 'nb', subject: 'alice' })).toMatchObject({ result: 42, step: 2 });
  });
});
