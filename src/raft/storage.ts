// Durable raft state in its own LevelDB at <dataDir>/raft. Every Ready is one batch (hard state +
// entries + received snapshot) written before any message acknowledging it is sent; it is synced
// when the Ready says it must be (Ready.mustSync: not when only the commit index moved).
// Keys: "hs" hard state, "sm"/"sd" snapshot meta/data, "e" + 16 hex digits per entry.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import { decodeEntryValue, decodeSnapshotMeta, encodeEntryValue, encodeSnapshotMeta } from './codec.ts';
import { DataDirInUseError } from './errors.ts';
import type { DurableState, HardState, LogEntry, Snapshot } from './types.ts';

type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

const enc = new TextEncoder();
const dec = new TextDecoder();

function entryKey(i: number): string {
  return 'e' + i.toString(16).padStart(16, '0');
}

export interface SaveRequest {
  hardState?: HardState;
  entries: readonly LogEntry[];
  snapshot?: Snapshot;
  mustSync: boolean;
}

export class RaftStorage {
  /** Indexes of entries on disk: (first-1 .. last]. Lets a save delete a truncated tail without reading. */
  private first = 1;
  private last = 0;

  private readonly db: Level<string, Uint8Array>;
  private constructor(db: Level<string, Uint8Array>) {
    this.db = db;
  }

  static async open(dataDir: string): Promise<RaftStorage> {
    const dir = path.join(dataDir, 'raft');
    await mkdir(dir, { recursive: true });
    const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      const err = e as { code?: string; cause?: { code?: string } };
      if (err.code === 'LEVEL_LOCKED' || err.cause?.code === 'LEVEL_LOCKED') throw new DataDirInUseError(dataDir);
      throw e;
    }
    return new RaftStorage(db);
  }

  async load(): Promise<DurableState> {
    const out: DurableState = { entries: [] };
    const hs = await this.db.get('hs');
    if (hs) {
      out.hardState = JSON.parse(dec.decode(hs)) as HardState;
    }
    const sm = await this.db.get('sm');
    if (sm) {
      const data = (await this.db.get('sd')) ?? new Uint8Array();
      out.snapshot = { meta: decodeSnapshotMeta(sm), data };
    }
    const snapIndex = out.snapshot?.meta.index ?? 0;
    this.first = snapIndex + 1;
    // Entries kept behind the snapshot for slow followers are not reloaded, but stay tracked for deletion.
    for await (const k of this.db.keys({ gte: 'e', lt: 'f', limit: 1 })) this.first = Math.min(this.first, parseInt(k.slice(1), 16));
    for await (const [k, v] of this.db.iterator({ gt: entryKey(snapIndex), lt: 'f' })) {
      const index = parseInt(k.slice(1), 16);
      if (out.entries.length > 0 && index !== out.entries[out.entries.length - 1]!.index + 1) {
        throw new Error(`raft log on disk has a hole before entry ${index}`);
      }
      out.entries.push(decodeEntryValue(index, v));
    }
    this.last = out.entries.length > 0 ? out.entries[out.entries.length - 1]!.index : snapIndex;
    return out;
  }

  /** One batch, synced if `mustSync`: a received snapshot replaces the log, entries overwrite any conflicting tail. */
  async save(req: SaveRequest): Promise<void> {
    const ops: Op[] = [];
    if (req.snapshot) {
      for (let i = this.first; i <= this.last; i++) ops.push({ type: 'del', key: entryKey(i) });
      ops.push({ type: 'put', key: 'sm', value: encodeSnapshotMeta(req.snapshot.meta) });
      ops.push({ type: 'put', key: 'sd', value: req.snapshot.data });
      this.first = req.snapshot.meta.index + 1;
      this.last = req.snapshot.meta.index;
    }
    if (req.entries.length > 0) {
      const lastNew = req.entries[req.entries.length - 1]!.index;
      for (const e of req.entries) ops.push({ type: 'put', key: entryKey(e.index), value: encodeEntryValue(e) });
      for (let i = lastNew + 1; i <= this.last; i++) ops.push({ type: 'del', key: entryKey(i) });
      this.last = lastNew;
    }
    if (req.hardState) ops.push({ type: 'put', key: 'hs', value: enc.encode(JSON.stringify(req.hardState)) });
    if (ops.length === 0) return;
    await this.db.batch(ops, { sync: req.mustSync });
  }

  /** Records a locally taken snapshot and deletes entries before `compactTo` (exclusive). */
  async saveSnapshot(snap: Snapshot, compactTo: number): Promise<void> {
    await this.db.batch(
      [
        { type: 'put', key: 'sm', value: encodeSnapshotMeta(snap.meta) },
        { type: 'put', key: 'sd', value: snap.data },
      ],
      { sync: true },
    );
    // A range delete runs off the event loop; thousands of single deletes in the batch above blocked
    // it for ~50 ms. Entries left behind by a crash in between lie below the snapshot and are ignored.
    const end = Math.min(compactTo, this.last + 1);
    if (end > this.first) {
      await this.db.clear({ gte: entryKey(this.first), lt: entryKey(end) });
      this.first = end;
    }
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
