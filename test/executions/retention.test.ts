import { describe, expect, it } from 'vitest';
import { executionView } from '../../src/api/views.ts';
import { EXECUTION_MODULE } from '../../src/executions/index.ts';
import { perTestNode } from '../sessions/fixture.ts';

const t = perTestNode();

const WAIT = { waitMs: 20_000 };
const logs = (bytes: number) => `console.log("x".repeat(${bytes}))`;

describe('records are bounded by bytes as well as by count', () => {
  it('prunes the oldest finished records once their total size passes the cap', async () => {
    const small = await t.f.node({ nodeId: 'small', maxExecutionBytes: 200_000 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await small.executions.run({ code: logs(60_000) }, WAIT)).id);
    await t.f.log.linearizableRead();
    const kept = (await small.executions.list()).executions.map((e) => e.id);
    expect(kept).toEqual(ids.slice(2).reverse());
    await expect(small.executions.get(ids[1]!)).rejects.toMatchObject({ status: 404 });
  });

  it('keeps the newest record even when it alone passes the cap', async () => {
    const tiny = await t.f.node({ nodeId: 'tiny', maxExecutionBytes: 1_000 });
    const e = await tiny.executions.run({ code: logs(5_000) }, WAIT);
    await t.f.log.linearizableRead();
    expect((await tiny.executions.get(e.id)).console[0]!.text).toHaveLength(5_000);
  });
});

describe('large bodies stay on disk', () => {
  it('keeps a large record\'s console, result and error out of memory, and get reads them, also after a restart', async () => {
    const big = await t.node.executions.run({ code: `${logs(100_000)}; throw new Error("E".repeat(50_000))` }, WAIT);
    await t.f.log.linearizableRead();
    const inMemory = t.f.state.get(EXECUTION_MODULE, `rec/${big.id}`) as { console: unknown[]; error: { message: string; stack: unknown }; bodyOmitted?: boolean };
    expect(inMemory).toMatchObject({ console: [], bodyOmitted: true, error: { name: 'Error', stack: null } });
    expect(inMemory.error.message.length).toBeLessThan(1100);
    expect(t.f.state.get(EXECUTION_MODULE, `body/${big.id}`)).toBeUndefined();
    const whole = (e: Awaited<ReturnType<typeof t.node.executions.get>>) => [e.console[0]!.text.length, e.error!.message.length, e.bodyOmitted];
    expect(whole(await t.node.executions.get(big.id))).toEqual([100_000, 50_000, undefined]);
    expect((await t.node.executions.output(big.id, { byte: { offset: 0, limit: 10 } })).data).toBe('x'.repeat(10));
    await t.f.restart();
    t.node = await t.f.node();
    expect(t.f.state.get(EXECUTION_MODULE, `body/${big.id}`)).toBeUndefined();
    expect(whole(await t.node.executions.get(big.id))).toEqual([100_000, 50_000, undefined]);
  });
});

describe('list pages are bounded by bytes', () => {
  it('leaves large bodies out of list items, and get still has them', async () => {
    const big = await t.node.executions.run({ code: `${logs(200_000)}; "r".repeat(100_000)` }, WAIT);
    const little = await t.node.executions.run({ code: 'console.log("hi"); 42' }, WAIT);
    await t.f.log.linearizableRead();
    const { executions } = await t.node.executions.list();
    expect(executions.find((e) => e.id === little.id)).toMatchObject({ result: 42, console: [{ text: 'hi' }] });
    expect(executions.find((e) => e.id === big.id)).toMatchObject({ bodyOmitted: true, console: [], result: null, resultText: null });
    expect(executionView(executions.find((e) => e.id === big.id)!).body_omitted).toBe(true);
    expect((await t.node.executions.get(big.id)).console[0]!.text).toHaveLength(200_000);
  });

  it('cuts a page at about a megabyte whatever its limit, and the pages still cover every record once', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) ids.add((await t.node.executions.run({ code: logs(1_500) }, WAIT)).id);
    await t.f.log.linearizableRead();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await t.node.executions.list({ limit: 500, ...(cursor ? { cursor } : {}) });
      expect(Buffer.byteLength(JSON.stringify({ executions: page.executions.map(executionView) }))).toBeLessThan(1 << 20);
      seen.push(...page.executions.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(seen.sort()).toEqual([...ids].sort());
  });

  it('pages a session journal at about a megabyte of code', async () => {
    const code = (i: number) => `globalThis.v${i} = ${i}; // ${'c'.repeat(600_000)}`;
    for (let i = 0; i < 3; i++) await t.node.executions.run({ code: code(i), session: 'big' }, WAIT);
    const first = await t.node.sessions.get('big');
    expect(first.journal.map((s) => s.step)).toEqual([1]);
    expect(first.nextStepsCursor).toBe('1');
    const second = await t.node.sessions.get('big', { stepsCursor: first.nextStepsCursor! });
    expect(second.journal.map((s) => s.step)).toEqual([2]);
  });
});
