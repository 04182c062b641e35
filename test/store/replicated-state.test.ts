import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicatedState, type StateModule } from '../../src/store/index.ts';

// A counter module with a compare-and-set, the shape every real module takes.
const counters: StateModule = {
  name: 'counter',
  apply(cmd, tx) {
    const current = (tx.get(String(cmd.key)) as number | undefined) ?? 0;
    if (cmd.type === 'counter.cas' && current !== cmd.expect) return { ok: false, current };
    tx.put(String(cmd.key), current + 1);
    return { ok: true, current: current + 1, index: tx.index };
  },
};

const enc = (cmd: object) => new TextEncoder().encode(JSON.stringify(cmd));
const dirs: string[] = [];
async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'raftbox-state-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

// Puts `value` under a cold key and its length under a hot one.
const blobs: StateModule = {
  name: 'blob',
  coldPrefixes: ['cold/'],
  apply(cmd, tx) {
    tx.put(`cold/${String(cmd.key)}`, cmd.value as string);
    tx.put(`len/${String(cmd.key)}`, (cmd.value as string).length);
    return { seen: tx.get(`cold/${String(cmd.key)}`) ?? null };
  },
};

describe('ReplicatedState', () => {
  it('keeps cold keys on disk only: not in memory, read with getCold, in snapshots, and after a reopen', async () => {
    const dir = await tempDir();
    const state = await ReplicatedState.open(dir, [blobs]);
    expect(await state.apply([{ index: 1, term: 1, data: enc({ type: 'blob.put', key: 'a', value: 'big' }) }])).toEqual([{ seen: null }]);
    expect(state.get('blob', 'cold/a')).toBeUndefined();
    expect(state.scan('blob', '')).toEqual([['len/a', 3]]);
    expect(await state.getCold('blob', 'cold/a')).toBe('big');
    const replica = await ReplicatedState.open(await tempDir(), [blobs]);
    await replica.restore(await state.snapshot());
    expect(replica.get('blob', 'cold/a')).toBeUndefined();
    expect(await replica.getCold('blob', 'cold/a')).toBe('big');
    await Promise.all([state.close(), replica.close()]);
    const reopened = await ReplicatedState.open(dir, [blobs]);
    expect([reopened.get('blob', 'cold/a'), await reopened.getCold('blob', 'cold/a'), reopened.get('blob', 'len/a')]).toEqual([undefined, 'big', 3]);
    await reopened.close();
  });

  it('applies commands in order, answers compare-and-set refusals, and survives a reopen', async () => {
    const dir = await tempDir();
    const state = await ReplicatedState.open(dir, [counters]);
    const results = await state.apply([
      { index: 1, term: 1, data: enc({ type: 'counter.inc', key: 'a' }) },
      { index: 2, term: 1, data: enc({ type: 'counter.cas', key: 'a', expect: 0 }) },
      { index: 3, term: 2, data: enc({ type: 'counter.cas', key: 'a', expect: 1 }) },
      { index: 4, term: 2, data: enc({ type: 'nosuch.thing' }) },
    ]);
    expect(results).toEqual([
      { ok: true, current: 1, index: 1 },
      { ok: false, current: 1 },
      { ok: true, current: 2, index: 3 },
      { rejected: 'unknown command type nosuch.thing' },
    ]);
    await state.close();

    const reopened = await ReplicatedState.open(dir, [counters]);
    expect(reopened.appliedIndex()).toBe(4);
    expect(reopened.get('counter', 'a')).toBe(2);
    await reopened.close();
  });

  it('restores a snapshot taken on another replica, replacing what was there', async () => {
    const source = await ReplicatedState.open(await tempDir(), [counters]);
    await source.apply([
      { index: 1, term: 1, data: enc({ type: 'counter.inc', key: 'x/1' }) },
      { index: 2, term: 1, data: enc({ type: 'counter.inc', key: 'x/2' }) },
    ]);
    const snap = await source.snapshot();

    const targetDir = await tempDir();
    const target = await ReplicatedState.open(targetDir, [counters]);
    await target.apply([{ index: 1, term: 1, data: enc({ type: 'counter.inc', key: 'stale' }) }]);
    await target.restore(snap);
    expect(target.scan('counter', 'x/')).toEqual([['x/1', 1], ['x/2', 1]]);
    expect(target.get('counter', 'stale')).toBeUndefined();
    await target.close();

    const reopened = await ReplicatedState.open(targetDir, [counters]);
    expect(reopened.appliedIndex()).toBe(2);
    expect(reopened.scan('counter', '')).toEqual([['x/1', 1], ['x/2', 1]]);
    await Promise.all([reopened.close(), source.close()]);
  });

  it('refuses a second open of the same data dir with a clear message', async () => {
    const dir = await tempDir();
    const first = await ReplicatedState.open(dir, [counters]);
    await expect(ReplicatedState.open(dir, [counters])).rejects.toThrow(/in use by another process/);
    await first.close();
  });

  it('lets one command write another module atomically and reports changed keys after the write', async () => {
    const ledger: StateModule = {
      name: 'ledger',
      apply(cmd, tx) {
        tx.put(String(cmd.key), cmd.value ?? null);
        return null;
      },
    };
    const both: StateModule = {
      name: 'both',
      apply(cmd, tx) {
        tx.put('seen', true);
        return ledger.apply({ type: 'ledger.put', key: 'k', value: cmd.value }, tx.namespace('ledger'));
      },
    };
    const dir = await tempDir();
    const state = await ReplicatedState.open(dir, [ledger, both]);
    const changes: Array<[string, string | null]> = [];
    const stop = state.onChange((module, key) => changes.push([module, key]));
    await state.apply([{ index: 1, term: 1, data: enc({ type: 'both.go', value: 7 }) }]);
    expect(changes).toEqual([['both', 'seen'], ['ledger', 'k']]);
    stop();
    await state.apply([{ index: 2, term: 1, data: enc({ type: 'both.go', value: 8 }) }]);
    expect(changes).toHaveLength(2);
    await state.close();

    const reopened = await ReplicatedState.open(dir, [ledger, both]);
    expect(reopened.get('ledger', 'k')).toBe(8);
    await reopened.close();
  });
});
