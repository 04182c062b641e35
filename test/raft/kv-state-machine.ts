// A small LevelDB-backed key-value state machine for tests and benchmarks: effects and the applied
// index are written in one batch, as the StateMachine contract requires.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import type { Entry, StateMachine } from '../../src/raft/index.ts';

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
      const cmd = JSON.parse(dec.decode(e.data)) as KvCommand;
      const prev = this.data.get(cmd.key) ?? '';
      const next = cmd.op === 'put' ? cmd.value : prev + cmd.value;
      this.data.set(cmd.key, next);
      ops.push({ type: 'put', key: '/' + cmd.key, value: next });
      results.push({ index: e.index, value: next });
    }
    this.applied = entries[entries.length - 1]!.index;
    ops.push({ type: 'put', key: '!applied', value: String(this.applied) });
    await this.db.batch(ops);
    return results;
  }

  async snapshot(): Promise<{ index: number; term: number; data: Uint8Array }> {
    return { index: this.applied, term: 0, data: enc.encode(JSON.stringify([...this.data])) };
  }

  async restore(s: { index: number; term: number; data: Uint8Array }): Promise<void> {
    const pairs = JSON.parse(dec.decode(s.data)) as Array<[string, string]>;
    await this.db.clear();
    this.data.clear();
    for (const [k, v] of pairs) this.data.set(k, v);
    await this.db.batch([
      ...pairs.map(([k, v]) => ({ type: 'put' as const, key: '/' + k, value: v })),
      { type: 'put' as const, key: '!applied', value: String(s.index) },
    ]);
    this.applied = s.index;
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
