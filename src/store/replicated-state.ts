import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Level } from 'level';
import type { SnapshotRestore } from '../raft/index.ts';
import { chunkRecords, ChunkWriter, incomingDir, settleStateDir, swapInIncoming } from './state-snapshot.ts';
import type { ChangeListener, Command, Json, StateModule, Tx } from './types.ts';
import { DEFAULT_CACHE_BYTES, ValueCache } from './value-cache.ts';

interface Entry {
  index: number;
  term: number;
  data: Uint8Array;
}

/** A snapshot being received (raft's SnapshotRestore): chunks written aside until `finish` makes them the state. */
export type StateRestore = SnapshotRestore;

export interface StateOptions {
  /** Bytes of cold values (see StateModule.coldPrefixes) kept in memory; the rest is read from disk. */
  cacheBytes?: number;
}

const APPLIED_KEY = '\u0001applied';
const SEP = '\u0000';
// Sorts after every key under a prefix (the highest code point): where a scan of the prefix ends.
const PREFIX_END = '\u{10FFFF}';
const utf8 = new TextDecoder();

type Pending = Map<string, { value: Json | undefined; size: number }>;

/** What one group of applied entries has written and loaded so far, shared by its transactions. */
interface ApplyGroup {
  /**
   * The group's writes by stored key, the last one winning (`undefined`: a delete), made one LevelDB
   * batch when the group ends: keys that every step rewrites (usage, the release queue's and the
   * record window's counters) reach the disk once a group, not once an entry.
   */
  writes: Map<string, string | undefined>;
  changed: Array<[string, string]>;
  /** Cold keys written by this group (not yet on disk): later reads in the group see them. */
  pending: Pending;
  /** Cold keys the group's commands declared (StateModule.coldReads), read before they applied. */
  loaded: Map<string, Json | undefined>;
}

export class UnknownCommandError extends Error {}

/**
 * The deterministic state machine behind Raft. Everything is in LevelDB; hot keys (small, read on
 * every request: names, heads, records) are also mirrored in memory for synchronous reads, cold keys
 * (the bulk: one per session step, execution bodies) are on disk only, read through a cache bounded
 * in bytes. Each group of applied entries is one LevelDB batch that also records the applied index,
 * so a restart resumes exactly where the disk says it stopped and Raft re-applies the rest.
 * Snapshots are streamed from a LevelDB iterator and restored into a directory beside the live one,
 * swapped in when complete: neither side ever holds more than a chunk of a snapshot.
 */
export class ReplicatedState {
  private readonly data = new Map<string, Map<string, Json>>();
  private readonly modules = new Map<string, StateModule>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly cache: ValueCache;
  private applied = 0;
  private appliedTerm = 0;
  /** Applies and restores, one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Set while a restored state is swapped in: disk reads wait for it. */
  private swapping: Promise<void> | null = null;
  /**
   * The cold writes of the group being applied. Its hot writes are visible as each command applies,
   * so its cold ones must be too: a reader that sees a new session head must find the state object
   * it points at, not a disk the group's batch has not reached yet.
   */
  private inflight: Pending | null = null;
  /**
   * Counts apply groups and swaps. A disk read that a write overtook may return the older value; it
   * is cached only if nothing was written while it ran, or a stale "absent" would stay cached.
   */
  private writes = 0;

  private db: Level<string, string>;
  private readonly dir: string;
  private constructor(dir: string, db: Level<string, string>, opts: StateOptions) {
    this.dir = dir;
    this.db = db;
    this.cache = new ValueCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
  }

  static async open(dir: string, modules: StateModule[], opts: StateOptions = {}): Promise<ReplicatedState> {
    await settleStateDir(dir);
    const state = new ReplicatedState(dir, await openDb(dir), opts);
    for (const m of modules) {
      state.modules.set(m.name, m);
      state.data.set(m.name, new Map());
    }
    await state.loadHot();
    return state;
  }

  appliedIndex(): number {
    return this.applied;
  }

  get(module: string, key: string): Json | undefined {
    return this.namespace(module).get(key);
  }

  /** A cold key's value (see StateModule.coldPrefixes), from the cache or the disk, as of the last applied entry. */
  async getCold(module: string, key: string): Promise<Json | undefined> {
    this.namespace(module);
    return this.readCold(module + SEP + key);
  }

  scan(module: string, prefix: string): Array<[string, Json]> {
    return scanMap(this.namespace(module), prefix);
  }

  /** Whether a hot key under `prefix` passes `test`: a scan in no order, which stops at the first. */
  some(module: string, prefix: string, test: (value: Json, key: string) => boolean): boolean {
    for (const [key, value] of this.namespace(module)) if (key.startsWith(prefix) && test(value, key)) return true;
    return false;
  }

  /**
   * The first `limit` cold keys under a prefix in key order, from one consistent view (as of the last
   * applied group): how a queue kept on disk is read from its head without holding it in memory.
   */
  async scanCold(module: string, prefix: string, limit: number): Promise<Array<[string, Json]>> {
    this.namespace(module);
    const start = module + SEP + prefix;
    const it = await this.exclusive(async () => this.db.iterator({ gte: start, lt: start + PREFIX_END, limit }));
    const rows = await it.all();
    return rows.map(([key, value]) => [key.slice(module.length + SEP.length), JSON.parse(value) as Json]);
  }

  /**
   * Registers a listener told about every key an apply changed, once that apply is durable (so a
   * reader woken by it sees the change). Long-polls wait on this. Returns the unsubscribe function.
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies entries in order; one at or below the applied index (a snapshot already covers it) answers undefined. */
  apply(entries: readonly Entry[]): Promise<unknown[]> {
    return this.exclusive(() => this.applyGroup(entries));
  }

  /** Makes everything applied durable on its own (applies are written without fsync: Raft's log is), before Raft compacts its log. */
  async persist(): Promise<void> {
    await this.exclusive(() => this.db.put(APPLIED_KEY, JSON.stringify({ index: this.applied, term: this.appliedTerm }), { sync: true }));
  }

  /**
   * The whole state as chunks (state-snapshot.ts), read from one LevelDB iterator: a consistent view
   * as of its creation, applied index included, however long the transfer takes.
   */
  async *snapshotChunks(): AsyncGenerator<Uint8Array> {
    const out = new ChunkWriter();
    for await (const [key, value] of this.records()) {
      const chunk = out.add(key, value);
      if (chunk) yield chunk;
    }
    const last = out.flush();
    if (last) yield last;
  }

  /**
   * A hash of every record but the applied index, from one consistent view: two replicas that
   * applied the same log up to the same index have the same digest.
   */
  async digest(): Promise<{ index: number; sha256: string }> {
    const hash = createHash('sha256');
    let index = 0;
    for await (const [key, value] of this.records()) {
      if (key === APPLIED_KEY) index = (JSON.parse(value) as { index: number }).index;
      else hash.update(`${key}\t${value}\n`);
    }
    return { index, sha256: hash.digest('hex') };
  }

  /** Every stored record in key order, from one iterator (a consistent view as of its creation). */
  private async *records(): AsyncGenerator<[string, string]> {
    const it = await this.exclusive(async () => this.db.iterator());
    try {
      for (let batch = await it.nextv(1000); batch.length > 0; batch = await it.nextv(1000)) yield* batch;
    } finally {
      await it.close();
    }
  }

  /** Starts receiving a snapshot into a directory beside the live state (one at a time). */
  async beginRestore(): Promise<StateRestore> {
    const dir = incomingDir(this.dir);
    await rm(dir, { recursive: true, force: true });
    const db = await openDb(dir);
    let streamed: { index: number; term: number } | undefined;
    let open = true;
    const discard = async () => {
      if (open) await db.close();
      open = false;
      await rm(dir, { recursive: true, force: true });
    };
    return {
      write: async (chunk) => {
        const batch = db.batch();
        for (const [key, value] of chunkRecords(chunk)) {
          if (key === APPLIED_KEY) streamed = JSON.parse(value) as { index: number; term: number };
          batch.put(key, value);
        }
        await batch.write();
      },
      finish: (at) =>
        this.exclusive(async () => {
          const target = streamed && streamed.index >= at.index ? streamed : at;
          if (target.index <= this.applied) {
            await discard();
            return false;
          }
          await db.put(APPLIED_KEY, JSON.stringify(target), { sync: true });
          await db.close();
          open = false;
          await this.swapIn();
          return true;
        }),
      abort: discard,
    };
  }

  async close(): Promise<void> {
    await this.tail;
    await this.db.close();
  }

  private async swapIn(): Promise<void> {
    this.writes++;
    this.swapping = (async () => {
      await this.db.close();
      await swapInIncoming(this.dir);
      this.db = await openDb(this.dir);
      this.cache.clear();
      for (const ns of this.data.values()) ns.clear();
      await this.loadHot();
    })();
    try {
      await this.swapping;
    } finally {
      this.swapping = null;
    }
    for (const name of this.data.keys()) this.notify(name, null);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async applyGroup(entries: readonly Entry[]): Promise<unknown[]> {
    const group: ApplyGroup = { writes: new Map(), changed: [], pending: new Map(), loaded: new Map() };
    this.inflight = group.pending;
    this.writes++;
    try {
      return await this.applyEntries(entries, group);
    } finally {
      this.inflight = null;
    }
  }

  private async applyEntries(entries: readonly Entry[], group: ApplyGroup): Promise<unknown[]> {
    const results: unknown[] = [];
    for (const entry of entries) {
      if (entry.index <= this.applied) {
        results.push(undefined);
        continue;
      }
      results.push(await this.applyOne(entry, group));
      this.applied = entry.index;
      this.appliedTerm = entry.term;
    }
    const batch = this.db.batch();
    for (const [storeKey, text] of group.writes) {
      if (text === undefined) batch.del(storeKey);
      else batch.put(storeKey, text);
    }
    batch.put(APPLIED_KEY, JSON.stringify({ index: this.applied, term: this.appliedTerm }));
    await batch.write();
    for (const [storeKey, { value, size }] of group.pending) this.cache.set(storeKey, value, size);
    for (const [module, key] of group.changed) this.notify(module, key);
    return results;
  }

  private async applyOne(entry: Entry, group: ApplyGroup): Promise<unknown> {
    const cmd = JSON.parse(utf8.decode(entry.data)) as Command;
    const moduleName = cmd.type.slice(0, cmd.type.indexOf('.'));
    const module = this.modules.get(moduleName);
    // An unknown command is answered, not thrown: every node must reach the same verdict for it.
    if (!module) return { rejected: `unknown command type ${cmd.type}` };
    for (const { module: ns, key } of module.coldReads?.(cmd) ?? []) {
      const storeKey = ns + SEP + key;
      if (!group.pending.has(storeKey) && !group.loaded.has(storeKey)) group.loaded.set(storeKey, await this.readCold(storeKey));
    }
    return module.apply(cmd, this.tx(moduleName, entry.index, group));
  }

  private tx(moduleName: string, index: number, group: ApplyGroup): Tx {
    const ns = this.namespace(moduleName);
    const cold = this.isCold(moduleName);
    const readCold = (key: string) => {
      const storeKey = moduleName + SEP + key;
      const written = group.pending.get(storeKey);
      if (written) return written.value;
      if (!group.loaded.has(storeKey)) throw new Error(`state module ${moduleName} read cold key ${key} without naming it in coldReads`);
      return group.loaded.get(storeKey);
    };
    return {
      index,
      get: (key) => (cold(key) ? readCold(key) : ns.get(key)),
      put: (key, value) => {
        const text = JSON.stringify(value);
        if (cold(key)) group.pending.set(moduleName + SEP + key, { value, size: text.length });
        else ns.set(key, value);
        group.writes.set(moduleName + SEP + key, text);
        group.changed.push([moduleName, key]);
      },
      del: (key) => {
        const storeKey = moduleName + SEP + key;
        if (cold(key)) group.pending.set(storeKey, { value: undefined, size: 0 });
        // A hot key is on disk (or written by this group) only if it is in memory too: deleting one
        // that is not changes nothing, and a step deletes several it never had (6 % of the bytes a step wrote).
        else if (!ns.delete(key)) return;
        group.writes.set(storeKey, undefined);
        group.changed.push([moduleName, key]);
      },
      scan: (prefix) => scanMap(ns, prefix),
      namespace: (other) => this.tx(other, index, group),
    };
  }

  private async readCold(storeKey: string): Promise<Json | undefined> {
    const hit = this.inflight?.get(storeKey) ?? this.cache.peek(storeKey);
    if (hit) return hit.value;
    if (this.swapping) await this.swapping;
    const writes = this.writes;
    const text = await this.db.get(storeKey);
    const value = text === undefined ? undefined : (JSON.parse(text) as Json);
    if (writes === this.writes && !this.inflight) this.cache.set(storeKey, value, text?.length ?? 0);
    return value;
  }

  private notify(module: string, key: string | null): void {
    for (const listener of this.listeners) {
      try {
        listener(module, key);
      } catch {
        // A listener's bug must not break the apply path that every replica shares.
      }
    }
  }

  /** Reads the applied index and every hot key into memory; cold ranges are skipped, not read. */
  private async loadHot(): Promise<void> {
    this.applied = 0;
    this.appliedTerm = 0;
    const it = this.db.iterator();
    try {
      for (let batch = await it.nextv(1000); batch.length > 0; batch = await it.nextv(1000)) {
        for (const [key, value] of batch) {
          if (key === APPLIED_KEY) {
            ({ index: this.applied, term: this.appliedTerm } = JSON.parse(value) as { index: number; term: number });
            continue;
          }
          const coldPrefix = this.coldPrefixOf(key);
          if (coldPrefix !== undefined) {
            it.seek(coldPrefix + PREFIX_END);
            break; // what nextv had read ahead lies in the skipped range, or is read again after it
          }
          const sep = key.indexOf(SEP);
          this.data.get(key.slice(0, sep))?.set(key.slice(sep + 1), JSON.parse(value) as Json);
        }
      }
    } finally {
      await it.close();
    }
  }

  /** The stored prefix (module + SEP + cold prefix) a stored key lies under, if it is cold. */
  private coldPrefixOf(storeKey: string): string | undefined {
    const sep = storeKey.indexOf(SEP);
    if (sep <= 0) return undefined;
    const key = storeKey.slice(sep + 1);
    const prefix = this.modules.get(storeKey.slice(0, sep))?.coldPrefixes?.find((p) => key.startsWith(p));
    return prefix === undefined ? undefined : storeKey.slice(0, sep + 1) + prefix;
  }

  private isCold(module: string): (key: string) => boolean {
    const prefixes = this.modules.get(module)?.coldPrefixes ?? [];
    return (key) => prefixes.some((p) => key.startsWith(p));
  }

  private namespace(module: string): Map<string, Json> {
    const ns = this.data.get(module);
    if (!ns) throw new UnknownCommandError(`no state module named ${module}`);
    return ns;
  }
}

async function openDb(dir: string): Promise<Level<string, string>> {
  const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
  try {
    await db.open();
  } catch (err) {
    throw new Error(`cannot open state store at ${dir}: ${lockHint(err)}`, { cause: err });
  }
  return db;
}

function scanMap(ns: Map<string, Json>, prefix: string): Array<[string, Json]> {
  const out: Array<[string, Json]> = [];
  for (const [key, value] of ns) if (key.startsWith(prefix)) out.push([key, value]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function lockHint(err: unknown): string {
  const text = String((err as { cause?: unknown })?.cause ?? err);
  return /lock/i.test(text) ? 'the data dir is in use by another process' : text;
}
