import { Level } from 'level';
import type { ChangeListener, Command, Json, StateModule, Tx } from './types.ts';

interface Entry {
  index: number;
  term: number;
  data: Uint8Array;
}

interface Snapshot {
  index: number;
  term: number;
  data: Uint8Array;
}

const APPLIED_KEY = '\u0001applied';
const SEP = '\u0000';
const SNAPSHOT_CHUNK = 1000;
const utf8 = new TextDecoder();

type Batch = ReturnType<Level<string, string>['batch']>;

export class UnknownCommandError extends Error {}

/**
 * The deterministic state machine behind Raft: every module's data in memory (reads are synchronous
 * and cheap on the hot path; cold keys, the large rarely read values, stay on disk only) and in LevelDB. Each group of applied entries is one LevelDB batch that
 * also records the applied index, so a restart resumes exactly where the disk says it stopped and
 * Raft re-applies the rest from its log.
 */
export class ReplicatedState {
  private readonly data = new Map<string, Map<string, Json>>();
  private readonly modules = new Map<string, StateModule>();
  private readonly listeners = new Set<ChangeListener>();
  private applied = 0;
  private appliedTerm = 0;

  private readonly db: Level<string, string>;
  private constructor(db: Level<string, string>) {
    this.db = db;
  }

  static async open(dir: string, modules: StateModule[]): Promise<ReplicatedState> {
    const db = new Level<string, string>(dir, { valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (err) {
      throw new Error(`cannot open state store at ${dir}: ${lockHint(err)}`, { cause: err });
    }
    const state = new ReplicatedState(db);
    for (const m of modules) {
      state.modules.set(m.name, m);
      state.data.set(m.name, new Map());
    }
    for await (const [key, value] of db.iterator()) if (!state.isColdStoreKey(key)) state.load(key, value);
    return state;
  }

  appliedIndex(): number {
    return this.applied;
  }

  get(module: string, key: string): Json | undefined {
    return this.namespace(module).get(key);
  }

  /** A cold key's value (see StateModule.coldPrefixes), read from disk as of the last applied entry. */
  async getCold(module: string, key: string): Promise<Json | undefined> {
    this.namespace(module);
    const text = await this.db.get(module + SEP + key);
    return text === undefined ? undefined : (JSON.parse(text) as Json);
  }

  scan(module: string, prefix: string): Array<[string, Json]> {
    return scanMap(this.namespace(module), prefix);
  }

  /**
   * Registers a listener told about every key an apply changed, once that apply is durable (so a
   * reader woken by it sees the change). Long-polls wait on this. Returns the unsubscribe function.
   */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async apply(entries: readonly Entry[]): Promise<unknown[]> {
    const batch = this.db.batch();
    const changed: Array<[string, string]> = [];
    const results: unknown[] = [];
    for (const entry of entries) {
      results.push(this.applyOne(entry, batch, changed));
      this.applied = entry.index;
      this.appliedTerm = entry.term;
    }
    batch.put(APPLIED_KEY, JSON.stringify({ index: this.applied, term: this.appliedTerm }));
    await batch.write();
    for (const [module, key] of changed) this.notify(module, key);
    return results;
  }

  /**
   * Streams the state out of LevelDB rather than serializing the in-memory maps: the values there are
   * already JSON text, and reading in chunks keeps the event loop (and every request on it) moving
   * while a large state is snapshotted. The format is a flat JSON array `[key, value, key, value, …]`.
   */
  async snapshot(): Promise<Snapshot> {
    // Applies are written without fsync (Raft's log already is); before Raft may compact its log
    // behind this snapshot, everything applied so far must be durable on its own.
    await this.db.put(APPLIED_KEY, JSON.stringify({ index: this.applied, term: this.appliedTerm }), { sync: true });
    const index = this.applied;
    const term = this.appliedTerm;
    const parts: string[] = [];
    const it = this.db.iterator();
    try {
      for (let chunk = await it.nextv(SNAPSHOT_CHUNK); chunk.length > 0; chunk = await it.nextv(SNAPSHOT_CHUNK)) {
        for (const [key, value] of chunk) if (key !== APPLIED_KEY) parts.push(`${JSON.stringify(key)},${value}`);
      }
    } finally {
      await it.close();
    }
    return { index, term, data: new TextEncoder().encode(`[${parts.join(',')}]`) };
  }

  async restore(snap: Snapshot): Promise<void> {
    const flat = JSON.parse(utf8.decode(snap.data)) as Json[];
    await this.db.clear();
    for (const ns of this.data.values()) ns.clear();
    const batch = this.db.batch();
    for (let i = 0; i < flat.length; i += 2) {
      const key = flat[i] as string;
      batch.put(key, JSON.stringify(flat[i + 1]));
      if (!this.isColdStoreKey(key)) this.loadParsed(key, flat[i + 1]!);
    }
    this.applied = snap.index;
    this.appliedTerm = snap.term;
    batch.put(APPLIED_KEY, JSON.stringify({ index: snap.index, term: snap.term }));
    await batch.write({ sync: true });
    for (const name of this.data.keys()) this.notify(name, null);
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private applyOne(entry: Entry, batch: Batch, changed: Array<[string, string]>): unknown {
    const cmd = JSON.parse(utf8.decode(entry.data)) as Command;
    const moduleName = cmd.type.slice(0, cmd.type.indexOf('.'));
    const module = this.modules.get(moduleName);
    // An unknown command is answered, not thrown: every node must reach the same verdict for it.
    if (!module) return { rejected: `unknown command type ${cmd.type}` };
    return module.apply(cmd, this.tx(moduleName, entry.index, batch, changed));
  }

  private tx(moduleName: string, index: number, batch: Batch, changed: Array<[string, string]>): Tx {
    const ns = this.namespace(moduleName);
    const cold = this.isCold(moduleName);
    return {
      index,
      get: (key) => ns.get(key),
      put: (key, value) => {
        if (!cold(key)) ns.set(key, value);
        batch.put(moduleName + SEP + key, JSON.stringify(value));
        changed.push([moduleName, key]);
      },
      del: (key) => {
        ns.delete(key);
        batch.del(moduleName + SEP + key);
        changed.push([moduleName, key]);
      },
      scan: (prefix) => scanMap(ns, prefix),
      namespace: (other) => this.tx(other, index, batch, changed),
    };
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

  private load(key: string, value: string): void {
    if (key === APPLIED_KEY) {
      const { index, term } = JSON.parse(value) as { index: number; term: number };
      this.applied = index;
      this.appliedTerm = term;
      return;
    }
    this.loadParsed(key, JSON.parse(value) as Json);
  }

  private loadParsed(storeKey: string, value: Json): void {
    const sep = storeKey.indexOf(SEP);
    this.data.get(storeKey.slice(0, sep))?.set(storeKey.slice(sep + 1), value);
  }

  /** Whether a stored key (module + SEP + key) is cold, decided before its value is parsed. */
  private isColdStoreKey(storeKey: string): boolean {
    const sep = storeKey.indexOf(SEP);
    return sep > 0 && this.isCold(storeKey.slice(0, sep))(storeKey.slice(sep + 1));
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

function scanMap(ns: Map<string, Json>, prefix: string): Array<[string, Json]> {
  const out: Array<[string, Json]> = [];
  for (const [key, value] of ns) if (key.startsWith(prefix)) out.push([key, value]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function lockHint(err: unknown): string {
  const text = String((err as { cause?: unknown })?.cause ?? err);
  return /lock/i.test(text) ? 'the data dir is in use by another process' : text;
}
