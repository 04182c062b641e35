// Object fields may be undefined: JSON.stringify drops them, which is what an optional field means.
export type Json = null | boolean | number | string | Json[] | { [field: string]: Json | undefined };

/** A replicated command; `type` is `<module>.<verb>` and names the module that applies it. */
export interface Command {
  type: string;
  [field: string]: Json | undefined;
}

/** The view of the state a module gets while applying one command. Writes are visible to later reads at once. */
export interface Tx {
  /** Log index of the entry being applied: a deterministic, cluster-wide sequence number. */
  readonly index: number;
  get(key: string): Json | undefined;
  put(key: string, value: Json): void;
  del(key: string): void;
  /** Entries whose key starts with `prefix`, in key order. */
  scan(prefix: string): Array<[string, Json]>;
  /**
   * The same transaction over another module's namespace, for a command whose effects must span
   * modules atomically (a session step and its execution record). Only that module's own reducer
   * should write there: pass this view to it rather than writing its keys directly.
   */
  namespace(module: string): Tx;
}

/** A cold key of a module's namespace. */
export interface ColdKey {
  module: string;
  key: string;
}

/** Told after each applied batch is durable: which key of which module changed (`key` null: all of them). */
export type ChangeListener = (module: string, key: string | null) => void;

/**
 * A reducer over one namespace of the replicated state. `apply` must be a pure function of the state
 * and the command (ids, clocks and expiries are decided by the proposer and carried in the command);
 * a command it refuses is answered with a result that says so, never with a throw.
 */
export interface StateModule {
  readonly name: string;
  apply(cmd: Command, tx: Tx): Json | undefined;
  /**
   * Keys under these prefixes are cold: written to disk with the rest (and in snapshots), but not
   * kept in memory. `ReplicatedState.get`/`scan` and a Tx's `scan` do not see them;
   * `ReplicatedState.getCold` reads one through a bounded cache. For whatever grows with use (one
   * key per session step) or is large and read rarely (an execution's console).
   */
  readonly coldPrefixes?: readonly string[];
  /**
   * The cold keys `apply` may read (Tx.get) for this command, in its own namespace or another it
   * applies through (Tx.namespace), loaded before it runs so that apply stays synchronous. Reading
   * an undeclared cold key throws: that is a bug of the module.
   */
  coldReads?(cmd: Command): ColdKey[];
}

/**
 * `idempotent`: the command is safe to apply twice, so one whose outcome is unknown may be proposed
 * again; `onRepeat` hears of each time it is (raft's ProposeOptions).
 */
export interface ProposalOptions {
  idempotent?: boolean;
  onRepeat?: () => void;
}

/** The part of a Raft node the store needs: replicate bytes, and the two read barriers. */
export interface Proposer {
  propose(data: Uint8Array, opts?: ProposalOptions): Promise<unknown>;
  /** Resolves once this node has applied every command committed anywhere before the call. */
  linearizableRead(): Promise<void>;
  /** Resolves once this node has applied every command it knows to be committed; no round to the leader (for callers that re-check on write). */
  localRead(): Promise<void>;
}
