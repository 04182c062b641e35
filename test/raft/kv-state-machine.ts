// A small LevelDB-backed key-value state machine for tests and benchmarks: effects and the applied
// index are written in one batch, as the StateMachine contract requires.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import type { Entry, SnapshotRestore, StateMachine } from '../../src/raft/index.ts';

export type KvCommand = { op: 'put'; key: string; value: string } | { op: 'append'; key: string; value: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeKv(cmd: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify(cmd));
}

export class KvStateMachine implements StateMachine {
  readonly data = new Map<string, string>();
  private applied = 0;

  private readonly db: Level<string, string>;
  private constructor(db: Level<string, string>) {
    this.db = db;
  }

  static async open(dataDir: string): Promise<KvStateMachine> {
    const dir = path.join(dataDir, 'kv');
    await mkdir(dir, { recursive: true });
    const db = new Level<string, string>(dir);
    await db.open();
    const sm = new KvStateMachine(db);
    for await (const [k, v] of db.iterator()) {
      if (k === '!applied') sm.applied = Number(v);
      else sm.data.set(k.slice(1), v);
    }
    return sm;
  }

  appliedIndex(): number {
    return this.applied;
  }

  async apply(entries: readonly Entry[]): Promise<unknown[]> {
    const ops: Array<{ type: 'put'; key: string; value: string }> = [];
    const results: unknown[] = [];
    for (const e of entries) {
      if (e.index <= this.applied) {
        results.push(undefined);
        continue;
      }
      const cmd = JSON.parse(dec.decode(e.data)) as KvCommand;
      const prev = this.data.get(cmd.key) ?? '';
      const next = cmd.op === 'put' ? cmd.value : prev + cmd.value;
      this.data.set(cmd.key, next);
      ops.push({ type: 'put', key: '/' + cmd.key, value: next });
      results.push({ index: e.index, value: next });
    }
    this.applied = Math.max(this.applied, entries[entries.length - 1]!.index);
    ops.push({ type: 'put', key: '!applied', value: String(this.applied) });
    await this.db.batch(ops);
    return results;
  }

  async persist(): Promise<void> {
    await this.db.put('!applied', String(this.applied), { sync: true });
  }

  /** One chunk per record: its tests send snapshots of many chunks with few records. */
  async *snapshotChunks(): AsyncGenerator<Uint8Array> {
    yield enc.encode(JSON.stringify(['!applied', String(this.applied)]));
    for (const [k, v] of [...this.data]) yield enc.encode(JSON.stringify([k, v]));
  }

  /** Collects the records in memory (the test states are small) and replaces the state at the end. */
  async beginRestore(): Promise<SnapshotRestore> {
    const pairs: Array<[string, string]> = [];
    let index = 0;
    return {
      write: async (chunk) => {
        const [k, v] = JSON.parse(dec.decode(chunk)) as [string, string];
        if (k === '!applied') index = Number(v);
        else pairs.push([k, v]);
      },
      finish: async (at) => {
        const target = Math.max(index, at.index);
        if (target <= this.applied) return false;
        await this.db.clear();
        this.data.clear();
        for (const [k, v] of pairs) this.data.set(k, v);
        await this.db.batch([
          ...pairs.map(([k, v]) => ({ type: 'put' as const, key: '/' + k, value: v })),
          { type: 'put' as const, key: '!applied', value: String(target) },
        ]);
        this.applied = target;
        return true;
      },
      abort: async () => {},
    };
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
