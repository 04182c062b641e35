import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { LiveSession } from '../../src/sandbox/index.ts';
import { Fixture } from './fixture.ts';

let f: Fixture;
let node: Domain;
beforeEach(async () => {
  f = await Fixture.open();
  node = await f.node();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await f.close();
});

const WAIT = { waitMs: 20_000 };
// Long enough to still be running when the test interrupts it, on any machine.
const BUSY = 'let i = 0; while (i < 3e8) i++; i';

describe('after a commit the answer is the committed outcome', () => {
  it('answers a committed step as committed though its warm isolate fails afterwards', async () => {
    await node.executions.run({ code: 'let n = 1', session: 's' }, WAIT);
    const heapBytes = vi.spyOn(LiveSession.prototype, 'heapBytes').mockImplementationOnce(() => {
      throw new Error('isolate in a bad state');
    });
    const step = await node.executions.run({ code: 'n += 1; n', session: 's' }, WAIT);
    expect(heapBytes).toHaveBeenCalled();
    expect(step).toMatchObject({ status: 'completed', result: 2, step: 2 });
    // The isolate was dropped; the next step rebuilds it from the journal.
    expect(await node.executions.run({ code: 'n', session: 's' }, WAIT)).toMatchObject({ status: 'completed', result: 2, step: 3 });
  });
});

describe('an idempotency key is held only by an execution that ran to its own outcome', () => {
  it('runs the retry of a run cancelled by its caller going away', async () => {
    const gone = new AbortController();
    const first = node.executions.run({ code: BUSY, idempotencyKey: 'k' }, { ...WAIT, signal: gone.signal });
    setTimeout(() => gone.abort(), 20);
    expect((await first).status).toBe('cancelled');
    const retry = await node.executions.run({ code: BUSY, idempotencyKey: 'k' }, WAIT);
    expect(retry).toMatchObject({ status: 'completed', result: 3e8 });
    expect(retry.id).not.toBe((await first).id);
    // And that one holds the key.
    expect((await node.executions.run({ code: BUSY, idempotencyKey: 'k' }, WAIT)).id).toBe(retry.id);
  });

  it('runs the retry of a session step whose node was lost, and the step is in the journal once', async () => {
    const lost = await f.node({ nodeId: 'lost' });
    const started = await lost.executions.run({ code: BUSY, session: 's', idempotencyKey: 'k' }, { waitMs: 0 });
    expect(await node.executions.nodeLost('lost')).toBe(1);
    expect(await node.executions.get(started.id)).toMatchObject({ status: 'failed', error: { message: 'node lost' } });
    const retry = await node.executions.run({ code: BUSY, session: 's', idempotencyKey: 'k' }, WAIT);
    expect(retry).toMatchObject({ status: 'completed', result: 3e8, step: 1 });
    expect((await node.sessions.get('s')).steps).toBe(1);
  });

  it('keeps the key for a step that threw or timed out: those are the code\'s outcomes', async () => {
    const threw = await node.executions.run({ code: 'throw new Error("mine")', idempotencyKey: 't' }, WAIT);
    expect((await node.executions.run({ code: 'throw new Error("mine")', idempotencyKey: 't' }, WAIT)).id).toBe(threw.id);
    const timedOut = await node.executions.run({ code: 'while (true) {}', idempotencyKey: 'u', timeoutSecs: 0.1 }, WAIT);
    expect(timedOut.status).toBe('timeout');
    expect((await node.executions.run({ code: 'while (true) {}', idempotencyKey: 'u', timeoutSecs: 0.1 }, WAIT)).id).toBe(timedOut.id);
  });
});

describe('a session deleted while its step runs stays deleted', () => {
  it('fails the running step with a clear error instead of starting the name again', async () => {
    await node.executions.run({ code: 'let kept = 1', session: 's' }, WAIT);
    const running = node.executions.run({ code: BUSY, session: 's' }, WAIT);
    await new Promise((r) => setTimeout(r, 20));
    await node.sessions.delete('s');
    await expect(running).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/session s was deleted while this step ran/) });
    await expect(node.sessions.get('s')).rejects.toMatchObject({ status: 404 });
    const { executions } = await node.executions.list({ session: 's' });
    expect(executions.map((e) => e.status)).toEqual(['failed', 'completed']);
  });
});

describe('the caller\'s limit bounds a rebuild', () => {
  it('answers "being rebuilt, retry" within its own limit, and the retry finds the session warm', async () => {
    // A few hundred ms of CPU, recorded in the journal; a restart loses the warm isolate.
    expect((await node.executions.run({ code: 'let j = 0; while (j < 3e8) j++; j', session: 's', timeoutSecs: 60 }, WAIT)).status).toBe('completed');
    await f.restart();
    node = await f.node();
    // Answered before the replay (hundreds of ms at least) is done: had it waited, it would have run.
    await expect(node.executions.run({ code: '"cheap"', session: 's', timeoutSecs: 0.05 }, WAIT)).rejects.toMatchObject({
      status: 503,
      message: expect.stringMatching(/being rebuilt/),
    });
    let retry;
    for (let i = 0; i < 200 && retry === undefined; i++) {
      retry = await node.executions.run({ code: '[j, "cheap"]', session: 's', timeoutSecs: 1 }, WAIT).catch(() => undefined);
    }
    expect(retry).toMatchObject({ status: 'completed', result: [3e8, 'cheap'], step: 2 });
  });
});

describe('a TypeScript cell that crashes the compiler', () => {
  it('answers 400 and leaves the session as it was', async () => {
    await node.executions.run({ code: 'let kept: number = 1', session: 's' }, WAIT);
    await expect(node.executions.run({ code: `let x: number = ${'!'.repeat(300_000)}1`, session: 's' }, WAIT)).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/TypeScript compiler crashed/),
    });
    expect(await node.executions.run({ code: 'let more: number = kept + 1; more', session: 's' }, WAIT)).toMatchObject({ result: 2, step: 2 });
  });
});
