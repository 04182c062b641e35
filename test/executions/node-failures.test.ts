import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Fixture } from '../sessions/fixture.ts';

let f: Fixture;
beforeEach(async () => {
  f = await Fixture.open();
});
afterEach(() => f.close());

const FOREVER = { code: 'while (true) {}', timeoutSecs: 5 };

describe('executions whose node is gone', () => {
  it('fails the executions an earlier run of this node left running ("node restarted")', async () => {
    const before = await f.node({ nodeId: 'n1' });
    const orphan = await before.executions.run(FOREVER, { waitMs: 0 });
    // The same node id starting again over the same state, while the old run is still "alive".
    const after = await f.node({ nodeId: 'n1' });
    expect(await after.executions.get(orphan.id)).toMatchObject({
      status: 'failed',
      error: { message: 'node restarted' },
      node: 'n1',
    });
    // The old run ending later does not overwrite the verdict.
    await before.executions.cancel(orphan.id).catch(() => undefined);
    expect(await after.executions.get(orphan.id)).toMatchObject({ status: 'failed' });
  });

  it('fails a lost node\'s executions when the cluster says so, and cancels across nodes', async () => {
    const a = await f.node({ nodeId: 'a' });
    const b = await f.node({ nodeId: 'b' });
    const onA = await a.executions.run(FOREVER, { waitMs: 0 });
    const other = await a.executions.run(FOREVER, { waitMs: 0 });
    // A cancel on B reaches A's run through the replicated record.
    expect(await b.executions.cancel(other.id)).toMatchObject({ status: 'cancelled', node: 'a' });
    expect(b.executions.activeOwners()).toEqual(new Set(['a']));
    expect(await b.executions.nodeLost('a')).toBe(1);
    expect(await b.executions.get(onA.id)).toMatchObject({ status: 'failed', error: { message: 'node lost' } });
    expect(b.executions.activeOwners()).toEqual(new Set());
  });

  it('refuses the step of an execution declared lost, so journal and records agree', async () => {
    const a = await f.node({ nodeId: 'a' });
    const b = await f.node({ nodeId: 'b' });
    await a.executions.run({ code: 'let v = 1', session: 's' }, { waitMs: 5_000 });
    const slow = await a.executions.run({ code: 'v = 2; for (let i = 0; i < 2e8; i++) {} v', session: 's', timeoutSecs: 10 }, { waitMs: 0 });
    expect(await b.executions.nodeLost('a')).toBe(1);
    while (a.executions.load.running > 0) await new Promise((r) => setTimeout(r, 20));
    expect(await b.executions.get(slow.id)).toMatchObject({ status: 'failed', error: { message: 'node lost' } });
    expect((await b.sessions.get('s')).steps).toBe(1);
    expect(await b.executions.run({ code: 'v', session: 's' }, { waitMs: 5_000 })).toMatchObject({ result: 1, step: 2 });
  });
});
