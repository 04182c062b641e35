import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplicatedState, type StateModule } from '../../src/store/index.ts';
import { copyState } from '../support/index.ts';

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

// Puts `value` under a cold key and its length under a hot one; answers what the cold key held before.
const blobs: StateModule = {
  name: 'blob',
  coldPrefixes: ['cold/'],
  coldReads: (cmd) => [{ module: 'blob', key: `cold/${String(cmd.key)}` }],
  apply(cmd, tx) {
    const seen = tx.get(`cold/${String(cmd.key)}`) ?? null;
    tx.put(`cold/${String(cmd.key)}`, cmd.value as string);
    tx.put(`len/${String(cmd.key)}`, (cmd.value as string).length);
    return { seen };
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
    expect(await copyState(state, replica)).toBe(true);
    expect(replica.get('blob', 'cold/a')).toBeUndefined();
    expect(await replica.getCold('blob', 'cold/a')).toBe('big');
    await Promise.all([state.close(), replica.close()]);
    const reopened = await ReplicatedState.open(dir, [blobs]);
    expect([reopened.get('blob', 'cold/a'), await reopened.getCold('blob', 'cold/a'), reopened.get('blob', 'len/a')]).toEqual([undefined, 'big', 3]);
    await reopened.close();
  });

  it('reads the head of a cold range from disk: key order, the limit, nothing past the prefix', async () => {
    const state = await ReplicatedState.open(await tempDir(), [blobs, counters]);
    const puts = ['b', 'a', 'c', 'ab'].map((key, i) => ({ index: i + 1, term: 1, data: enc({ type: 'blob.put', key, value: key.toUpperCase() }) }));
    await state.apply([...puts, { index: 5, term: 1, data: enc({ type: 'counter.add', key: 'cold/z' }) }]);
    expect(await state.scanCold('blob', 'cold/', 3)).toEqual([['cold/a', 'A'], ['cold/ab', 'AB'], ['cold/b', 'B']]);
    expect(await state.scanCold('blob', 'cold/a', 10)).toEqual([['cold/a', 'A'], ['cold/ab', 'AB']]);
    expect(await state.scanCold('blob', 'len/', 10)).toHaveLength(4);
    expect(await state.scanCold('blob', 'none/', 10)).toEqual([]);
    await state.close();
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
    const targetDir = await tempDir();
    const target = await ReplicatedState.open(targetDir, [counters]);
    await target.apply([{ index: 1, term: 1, data: enc({ type: 'counter.inc', key: 'stale' }) }]);
    expect(await copyState(source, target)).toBe(true);
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

  it('writes a group\'s last value of each key, the same state as one entry at a time, and reports no change for a delete of a key it never had', async () => {
    const edits: StateModule = {
      name: 'edits',
      coldPrefixes: ['cold/'],
      apply(cmd, tx) {
        if (cmd.type === 'edits.put') tx.put(String(cmd.key), cmd.value ?? null);
        else tx.del(String(cmd.key));
        return null;
      },
    };
    const put = (key: string, value: number) => enc({ type: 'edits.put', key, value });
    const del = (key: string) => enc({ type: 'edits.del', key });
    const before = [put('kept', 1), put('dropped', 1), put('cold/dropped', 1)];
    const group = [put('kept', 2), del('kept'), put('kept', 3), del('dropped'), put('new', 1), del('new'), del('never'), put('cold/new', 1), put('cold/new', 2), del('cold/dropped')];
    const entries = (datas: Uint8Array[], from: number) => datas.map((data, i) => ({ index: from + i, term: 1, data }));

    const dir = await tempDir();
    const grouped = await ReplicatedState.open(dir, [edits]);
    await grouped.apply(entries(before, 1));
    const changes: string[] = [];
    grouped.onChange((_module, key) => changes.push(String(key)));
    await grouped.apply(entries(group, 1 + before.length));
    expect(changes).not.toContain('never');
    const oneByOne = await ReplicatedState.open(await tempDir(), [edits]);
    for (const entry of entries([...before, ...group], 1)) await oneByOne.apply([entry]);
    expect(await grouped.digest()).toEqual(await oneByOne.digest());
    for (const state of [grouped, oneByOne]) {
      expect(state.scan('edits', '')).toEqual([['kept', 3]]);
      expect([await state.getCold('edits', 'cold/new'), await state.getCold('edits', 'cold/dropped')]).toEqual([2, undefined]);
    }
    await oneByOne.close();
    await grouped.close();
    const reopened = await ReplicatedState.open(dir, [edits]);
    expect(reopened.scan('edits', '')).toEqual([['kept', 3]]);
    expect([await reopened.getCold('edits', 'cold/new'), await reopened.getCold('edits', 'cold/dropped')]).toEqual([2, undefined]);
    await reopened.close();
  });

  it('reads cold keys through a cache far smaller than them, in applies and outside, and the same after a reopen', async () => {
    const dir = await tempDir();
    const state = await ReplicatedState.open(dir, [blobs], { cacheBytes: 4096 });
    const value = (i: number) => `${i}:`.padEnd(1000, 'x');
    // One group: later commands see the cold writes of earlier ones before they reach the disk.
    const first = await state.apply(Array.from({ length: 50 }, (_, i) => ({ index: i + 1, term: 1, data: enc({ type: 'blob.put', key: String(i % 25), value: value(i) }) })));
    expect(first.slice(25)).toEqual(Array.from({ length: 25 }, (_, i) => ({ seen: value(i) })));
    const later = await state.apply([{ index: 51, term: 1, data: enc({ type: 'blob.put', key: '0', value: 'new' }) }]);
    expect(later).toEqual([{ seen: value(25) }]);
    for (let i = 1; i < 25; i++) expect(await state.getCold('blob', `cold/${i}`)).toBe(value(i + 25));
    expect(await state.getCold('blob', 'cold/nothing')).toBeUndefined();
    await state.close();
    const reopened = await ReplicatedState.open(dir, [blobs], { cacheBytes: 4096 });
    expect(reopened.scan('blob', '')).toHaveLength(25); // the hot keys only
    expect(await reopened.getCold('blob', 'cold/0')).toBe('new');
    await reopened.close();
  });

  it('shows a cold write as soon as the hot write made with it, while the group is still on its way to disk', async () => {
    // A session head is hot and its state object cold: one seen without the other is a step that points nowhere.
    const state = await ReplicatedState.open(await tempDir(), [blobs]);
    for (let i = 1; i <= 40; i++) {
      const applied = state.apply([{ index: i, term: 1, data: enc({ type: 'blob.put', key: `k${i}`, value: `v${i}` }) }]);
      while (state.get('blob', `len/k${i}`) === undefined) await new Promise((r) => setImmediate(r));
      expect(await state.getCold('blob', `cold/k${i}`)).toBe(`v${i}`);
      await applied;
    }
    await state.close();
  });

  it('throws when a module reads a cold key it did not name in coldReads', async () => {
    const sloppy: StateModule = { name: 'sloppy', coldPrefixes: ['c/'], apply: (_cmd, tx) => tx.get('c/x') ?? null };
    const state = await ReplicatedState.open(await tempDir(), [sloppy]);
    await expect(state.apply([{ index: 1, term: 1, data: enc({ type: 'sloppy.read' }) }])).rejects.toThrow(/read cold key c\/x without naming it in coldReads/);
    await state.close();
  });

  it('keeps its own state when offered a snapshot that is not ahead of it, and skips entries a snapshot covers', async () => {
    const behind = await ReplicatedState.open(await tempDir(), [counters]);
    await behind.apply([{ index: 1, term: 1, data: enc({ type: 'counter.inc', key: 'a' }) }]);
    const ahead = await ReplicatedState.open(await tempDir(), [counters]);
    await ahead.apply([1, 2, 3].map((index) => ({ index, term: 1, data: enc({ type: 'counter.inc', key: 'b' }) })));
    expect(await copyState(behind, ahead)).toBe(false);
    expect([ahead.appliedIndex(), ahead.get('counter', 'b'), ahead.get('counter', 'a')]).toEqual([3, 3, undefined]);
    expect(await copyState(ahead, behind)).toBe(true);
    // Raft hands the entries after its own snapshot index again: those the restored state has are skipped.
    const results = await behind.apply([3, 4].map((index) => ({ index, term: 1, data: enc({ type: 'counter.inc', key: 'b' }) })));
    expect(results).toEqual([undefined, { ok: true, current: 4, index: 4 }]);
    await Promise.all([behind.close(), ahead.close()]);
  });

  it('finishes a restore a crash interrupted between its two renames, and drops an unfinished one', async () => {
    const source = await ReplicatedState.open(await tempDir(), [counters]);
    await source.apply([{ index: 7, term: 1, data: enc({ type: 'counter.inc', key: 'x' }) }]);
    const root = await tempDir();
    const dir = join(root, 'state');
    const target = await ReplicatedState.open(dir, [counters]);
    const restore = await target.beginRestore();
    for await (const chunk of source.snapshotChunks()) await restore.write(chunk);
    await target.close();
    // Unfinished: the next open throws it away and keeps the old state.
    let reopened = await ReplicatedState.open(dir, [counters]);
    expect([reopened.appliedIndex(), await readdir(root)]).toEqual([0, ['state']]);
    await reopened.close();
    // Complete, with the live directory already moved aside: the incoming one becomes the state.
    const copy = await ReplicatedState.open(join(root, 'copy'), [counters]);
    await copyState(source, copy);
    await copy.close();
    await rename(dir, `${dir}.retired`);
    await rename(join(root, 'copy'), `${dir}.incoming`);
    reopened = await ReplicatedState.open(dir, [counters]);
    expect([reopened.appliedIndex(), reopened.get('counter', 'x'), (await readdir(root)).sort()]).toEqual([7, 1, ['state']]);
    await Promise.all([reopened.close(), source.close()]);
  });
});
