import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { Fixture } from '../sessions/fixture.ts';

let f: Fixture;
let node: Domain;
beforeEach(async () => {
  f = await Fixture.open();
  node = await f.node({ maxMemoryMb: 128, maxTimeoutSecs: 10 });
});
afterEach(() => f.close());

const WAIT = { waitMs: 10_000 };
const FOREVER = 'while (true) {}';

describe('running code', () => {
  it('answers a stateless run within its wait, and records it for later reads', async () => {
    const e = await node.executions.run({ code: 'console.log("hi"); const n: number = 1 + 1; n', tags: { job: 'x' } }, WAIT);
    expect(e).toMatchObject({ status: 'completed', result: 2, session: null, heap: null, step: null, tags: { job: 'x' }, node: 'n1' });
    expect(e.console).toEqual([{ level: 'log', text: 'hi' }]);
    expect(await node.executions.get(e.id)).toEqual(e);
  });

  it('returns an async run at once, committed, and long-polls it to the end', async () => {
    const e = await node.executions.run({ code: FOREVER, timeoutSecs: 0.3 }, { waitMs: 0 });
    expect(['queued', 'running']).toContain(e.status);
    expect(f.state.get('execution', `rec/${e.id}`)).toBeDefined();
    const quick = await node.executions.get(e.id, { waitMs: 10 });
    expect(quick.status).toBe('running');
    const started = Date.now();
    expect(await node.executions.get(e.id, { waitMs: 5_000 })).toMatchObject({ status: 'timeout' });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('answers the current record when the wait runs out, and the finished one later', async () => {
    const e = await node.executions.run({ code: FOREVER, timeoutSecs: 0.3 }, { waitMs: 20 });
    expect(e.status).toBe('running');
    expect(await node.executions.get(e.id, { waitMs: 5_000 })).toMatchObject({ status: 'timeout' });
  });

  it('refuses limits over the server caps instead of clamping them', async () => {
    await expect(node.executions.run({ code: '1', memoryMb: 129 }, WAIT)).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/memory.*129.*cap of 128/),
    });
    await expect(node.executions.run({ code: '1', timeoutSecs: 11 }, WAIT)).rejects.toMatchObject({
      status: 400,
      message: expect.stringMatching(/timeout.*11.*cap of 10/),
    });
    await expect(node.executions.run({ code: '1', language: 'py' as 'js' }, WAIT)).rejects.toMatchObject({ status: 400 });
    expect(await node.executions.run({ code: FOREVER, timeoutSecs: 0.2 }, WAIT)).toMatchObject({ status: 'timeout' });
  });

  it('answers overloaded with Retry-After past the concurrency and the queue', async () => {
    const busy = await f.node({ nodeId: 'busy', maxConcurrent: 1, maxQueue: 1 });
    const first = await busy.executions.run({ code: FOREVER, timeoutSecs: 5 }, { waitMs: 0 });
    const second = await busy.executions.run({ code: '2' }, { waitMs: 0 });
    expect(second.status).toBe('queued');
    await expect(busy.executions.run({ code: '3' }, WAIT)).rejects.toMatchObject({ status: 429, code: 'overloaded', retryAfter: 1 });
    await busy.executions.cancel(first.id);
    expect(await busy.executions.get(second.id, { waitMs: 5_000 })).toMatchObject({ status: 'completed', result: 2 });
  });

  it('returns the first execution for a retried idempotency key, also after a restart', async () => {
    const first = await node.executions.run({ code: 'Math.random()', idempotencyKey: 'k1' }, WAIT);
    const again = await node.executions.run({ code: 'Math.random()', idempotencyKey: 'k1' }, WAIT);
    expect(again).toEqual(first);
    const step = await node.executions.run({ code: 'let v = Math.random(); v', session: 's', idempotencyKey: 'k2' }, WAIT);
    await f.restart();
    node = await f.node();
    expect(await node.executions.run({ code: 'Math.random()', idempotencyKey: 'k1' }, WAIT)).toEqual(first);
    expect(await node.executions.run({ code: 'let v = Math.random(); v', session: 's', idempotencyKey: 'k2' }, WAIT)).toEqual(step);
    expect((await node.sessions.get('s')).steps).toBe(1);
    // Keys belong to their subject.
    expect((await node.executions.run({ code: '5', idempotencyKey: 'k1', subject: 'eve' }, WAIT)).result).toBe(5);
  });

  it('refuses a key reused for a different request, rather than answering the first one', async () => {
    await node.executions.run({ code: '1 + 1', idempotencyKey: 'k3' }, WAIT);
    await expect(node.executions.run({ code: '2 + 2', idempotencyKey: 'k3' }, WAIT)).rejects.toMatchObject({ status: 422, code: 'idempotency_key_reused' });
    await expect(node.executions.run({ code: '1 + 1', session: 'other', idempotencyKey: 'k3' }, WAIT)).rejects.toMatchObject({ status: 422 });
  });

  it('runs a key once when retries race on two nodes', async () => {
    const other = await f.node({ nodeId: 'other' });
    const code = 'globalThis.n = (globalThis.n ?? 0) + 1; let once = Math.random(); once';
    const [x, y] = await Promise.all([
      node.executions.run({ code, session: 'race', idempotencyKey: 'r1' }, WAIT),
      other.executions.run({ code, session: 'race', idempotencyKey: 'r1' }, WAIT),
    ]);
    expect(y).toEqual(x);
    expect((await node.sessions.get('race')).steps).toBe(1);
  });

  it('keeps only the newest finished records', async () => {
    const small = await f.node({ nodeId: 'small', maxExecutions: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await small.executions.run({ code: String(i), idempotencyKey: `p${i}` }, WAIT)).id);
    await f.log.linearizableRead();
    const { executions } = await small.executions.list();
    expect(executions.map((e) => e.id)).toEqual(ids.slice(2).reverse());
    await expect(small.executions.get(ids[0]!)).rejects.toMatchObject({ status: 404 });
    // A pruned record frees its idempotency key.
    expect((await small.executions.run({ code: '"again"', idempotencyKey: 'p0' }, WAIT)).result).toBe('again');
  });

  it('starts a byte page that begins inside a character at that character', async () => {
    const e = await node.executions.run({ code: 'console.log("€€€")' }, WAIT);
    const page = await node.executions.output(e.id, { byte: { offset: 4, limit: 2 } });
    expect(page).toMatchObject({ data: '€', startByte: 3, endByte: 6, nextByteOffset: 6 });
    expect((await node.executions.output(e.id, { byte: { offset: 8, limit: 2 } })).data).toBe('€');
  });

  it('pages console output by lines and by bytes', async () => {
    const e = await node.executions.run({ code: 'for (let i = 0; i < 5; i++) console.log("line " + i); console.warn("é!")' }, WAIT);
    const lines = await node.executions.output(e.id, { line: { offset: 1, limit: 2 } });
    expect(lines).toEqual({
      data: 'line 1\nline 2\n',
      totalLines: 6,
      totalBytes: 46,
      startLine: 1,
      endLine: 3,
      startByte: 7,
      endByte: 21,
      nextLineOffset: 3,
      nextByteOffset: null,
      hasMore: true,
    });
    const tail = await node.executions.output(e.id, { line: { offset: 3, limit: 10 } });
    expect(tail).toMatchObject({ data: 'line 3\nline 4\n[warn] é!\n', nextLineOffset: null, hasMore: false });
    const bytes = await node.executions.output(e.id, { byte: { offset: 0, limit: 10 } });
    expect(bytes).toMatchObject({ data: 'line 0\nlin', startLine: 0, endLine: 1, startByte: 0, endByte: 10, nextByteOffset: 10, hasMore: true });
    // A page never splits a character.
    const cut = await node.executions.output(e.id, { byte: { offset: 35, limit: 8 } });
    expect(cut).toMatchObject({ data: '[warn] ', startLine: 5, endLine: 5, nextByteOffset: 42 });
    expect(await node.executions.output(e.id, { byte: { offset: 42, limit: 100 } })).toMatchObject({ data: 'é!\n', endLine: 6, endByte: 46, hasMore: false, nextByteOffset: null });
    expect(await node.executions.output(e.id)).toMatchObject({ data: 'line 0\nline 1\nline 2\nline 3\nline 4\n[warn] é!\n', hasMore: false });
    await expect(node.executions.output(e.id, { line: { offset: -1, limit: 1 } })).rejects.toMatchObject({ status: 400 });
  });

  it('cancels a running or queued execution; a finished one is a conflict', async () => {
    const one = await f.node({ nodeId: 'one', maxConcurrent: 1 });
    const running = await one.executions.run({ code: FOREVER, timeoutSecs: 10 }, { waitMs: 0 });
    const queued = await one.executions.run({ code: '1' }, { waitMs: 0 });
    expect(queued.status).toBe('queued');
    expect(await one.executions.cancel(queued.id)).toMatchObject({ status: 'cancelled', startedAt: null });
    const t0 = Date.now();
    expect(await one.executions.cancel(running.id)).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(2_000);
    await expect(one.executions.cancel(running.id)).rejects.toMatchObject({ status: 409, code: 'conflict' });
    expect(await node.executions.get(queued.id, { waitMs: 2_000 })).toMatchObject({ status: 'cancelled' });
  });

  it('cancels at once a session step waiting behind an earlier step of its session', async () => {
    await node.executions.run({ code: 'let v = 1', session: 's' }, WAIT);
    const long = await node.executions.run({ code: 'v = 2; while (true) {}', session: 's', timeoutSecs: 5 }, { waitMs: 0 });
    const behind = await node.executions.run({ code: 'v = 3', session: 's' }, { waitMs: 0 });
    const t0 = Date.now();
    expect(await node.executions.cancel(behind.id)).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(await node.executions.cancel(long.id)).toMatchObject({ status: 'cancelled' });
    expect(await node.executions.run({ code: 'v', session: 's' }, WAIT)).toMatchObject({ result: 1, step: 2 });
  });

  it('lists with filters and a cursor, newest first', async () => {
    const a = await node.executions.run({ code: '1', tags: { team: 'red' } }, WAIT);
    const b = await node.executions.run({ code: 'throw new Error("x")', tags: { team: 'blue' } }, WAIT);
    const c = await node.executions.run({ code: '3', session: 's', tags: { team: 'red' } }, WAIT);
    await f.log.linearizableRead();
    const ids = (q: Parameters<Domain['executions']['list']>[0]) => node.executions.list(q).then((r) => r.executions.map((e) => e.id));
    expect(await ids({})).toEqual([c.id, b.id, a.id]);
    expect(await ids({ status: 'failed' })).toEqual([b.id]);
    expect(await ids({ session: 's' })).toEqual([c.id]);
    expect(await ids({ tag: 'team=red' })).toEqual([c.id, a.id]);
    expect(await ids({ tag: 'team' })).toHaveLength(3);
    const page = await node.executions.list({ limit: 2 });
    expect(page.nextCursor).toBe(b.id);
    expect(await ids({ cursor: page.nextCursor! })).toEqual([a.id]);
  });

  it('hides executions of other subjects', async () => {
    const mine = await node.executions.run({ code: 'console.log("x"); 1', subject: 'alice' }, WAIT);
    await f.log.linearizableRead();
    await expect(node.executions.get(mine.id, { subject: 'bob' })).rejects.toMatchObject({ status: 404 });
    await expect(node.executions.get(mine.id)).rejects.toMatchObject({ status: 404 });
    await expect(node.executions.output(mine.id, { subject: 'bob' })).rejects.toMatchObject({ status: 404 });
    await expect(node.executions.cancel(mine.id, 'bob')).rejects.toMatchObject({ status: 404 });
    expect((await node.executions.list({ subject: 'bob' })).executions).toEqual([]);
    expect((await node.executions.list({ subject: 'alice' })).executions).toHaveLength(1);
  });
});
