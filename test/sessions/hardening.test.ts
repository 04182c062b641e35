import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { LiveSession } from '../../src/sandbox/index.ts';
import { SESSION_MODULE } from '../../src/sessions/index.ts';
import { stateId, stateKey, type StateObject } from '../../src/sessions/session-state.ts';
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
      code: 'session_rebuilding',
      retryAfter: 1,
      message: expect.stringMatching(/being rebuilt/),
    });
    let retry;
    for (let i = 0; i < 200 && retry === undefined; i++) {
      retry = await node.executions.run({ code: '[j, "cheap"]', session: 's', timeoutSecs: 1 }, WAIT).catch(() => undefined);
    }
    expect(retry).toMatchObject({ status: 'completed', result: [3e8, 'cheap'], step: 2 });
  });
});

describe('a rebuild that is impossible says why, never "conflict"', () => {
  it('records the CPU of each step in the journal, for the replay budget', async () => {
    const heavy = await node.executions.run({ code: 'let h = 0; while (h < 2e7) h++; h', session: 's' }, WAIT);
    const object = (await f.state.getCold(SESSION_MODULE, stateKey(heavy.heap!))) as { cpuMs?: number };
    expect(object.cpuMs).toBeGreaterThan(0);
  });

  it('refuses to continue a chain whose memory limit this node no longer allows', async () => {
    const roomy = await f.node({ maxMemoryMb: 256 });
    await roomy.executions.run({ code: 'let big = 1', session: 'wide', memoryMb: 128 }, WAIT);
    const strict = await f.node({ maxMemoryMb: 64 });
    await expect(strict.executions.run({ code: 'big', session: 'wide' }, WAIT)).rejects.toMatchObject({
      status: 409,
      code: 'memory_limit_not_allowed',
      message: expect.stringMatching(/runs with heap_memory_max_mb 128, .* allows at most 64 \(--max-memory-mb\)/),
    });
  });
});

describe('a warm session catches up on the node\'s own thread where its steps allow', () => {
  const objectOf = async (heap: string) => (await f.state.getCold(SESSION_MODULE, stateKey(heap))) as StateObject;

  it('records in the journal whether a step ran to its end in one task', async () => {
    const quick = await node.executions.run({ code: 'let q = 1', session: 'marks' }, WAIT);
    const timed = await node.executions.run({ code: 'await new Promise((r) => setTimeout(r, 5)); q', session: 'marks' }, WAIT);
    expect((await objectOf(quick.heap!)).oneTask).toBe(true);
    expect((await objectOf(timed.heap!)).oneTask).toBeUndefined();
  });

  it('rebuilds with the journal\'s state, asynchronously, a session whose step is marked one task but waits on a timer', async () => {
    const other = await f.node({ nodeId: 'b' });
    const first = await other.executions.run({ code: 'var x = 1', session: 'marked' }, WAIT);
    const parent = await objectOf(first.heap!);
    // Committed as no run would commit it: its replay on the node's thread cannot end within its call.
    const object: StateObject = {
      parent: first.heap!,
      step: 2,
      code: 'await new Promise((r) => setTimeout(r, 5)); x = 2',
      language: 'js',
      seed: 'marked',
      clock: parent.clock + 1,
      memoryMb: parent.memoryMb,
      subject: null,
      threw: false,
      createdAt: new Date(parent.clock + 1).toISOString(),
      cpuMs: 0.1,
      oneTask: true,
    };
    await f.log.propose({ type: 'session.step', heap: stateId(object), object, session: 'marked', expect: first.heap!, subject: null });
    expect(await other.executions.run({ code: 'x', session: 'marked' }, WAIT)).toMatchObject({ status: 'completed', result: 2 });
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
