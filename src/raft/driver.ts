// The boot of the core and one turn of its Ready loop, shared by RaftNode, the deterministic
// simulator (test/raft/sim) and the unit tests' in-memory network, so what the simulator checks is
// what a node runs. The I/O is injected: RaftNode's returns Promises, the simulator's returns steps
// that finish in virtual time, the in-memory network's returns nothing. The steps are chained with
// `after`, not `await`, so a driver whose I/O is synchronous stays synchronous (the simulator runs
// its whole world without a microtask queue).
import { MemoryStorage } from './memory-storage.ts';
import { Raft, type RaftConfig, type Ready } from './raft.ts';
import { EntryType, type DurableState, type LogEntry, type Message, type ReadState, type Snapshot } from './types.ts';

/** What a step of I/O returns: nothing when it is done at once, or something to wait for. */
export type Pending = void | PromiseLike<unknown>;

/** Runs `next` once `p` is done: at once when `p` is nothing. */
export function after(p: Pending, next: () => Pending): Pending {
  return p ? p.then(next) : next();
}

/** A core over a durable state. Its stable log is a memory mirror of what the driver persisted. */
export function bootCore(state: DurableState, cfg: Omit<RaftConfig, 'storage' | 'hardState'>): Raft {
  const stable = new MemoryStorage({ voters: [], learners: [], addrs: {} }, state.snapshot);
  stable.append(state.entries);
  return new Raft({ ...cfg, storage: stable, ...(state.hardState ? { hardState: state.hardState } : {}) });
}

/** A snapshot raft's log holds but the state machine has not restored (a crash between the two): restore it before the first Ready. */
export function unrestoredSnapshot(state: DurableState, appliedIndex: number): Snapshot | undefined {
  return state.snapshot && appliedIndex < state.snapshot.meta.index ? state.snapshot : undefined;
}

/** The driver's I/O for one Ready, called in this order. */
export interface ReadyIO {
  /** Writes hard state, entries and a received snapshot as one batch, fsynced when `rd.mustSync`. Nothing is sent before it is done, unless `rd.messagesFirst`. */
  persist(rd: Ready): Pending;
  /** Restores the state machine from a snapshot received from the leader (persisted already). */
  restore(snapshot: Snapshot): Pending;
  send(messages: Message[]): void;
  /** The leader named the read index of these ReadIndex requests of this node. */
  readStates(states: ReadState[]): void;
  /** Committed entries in log order, all of them (leader no-ops and membership entries too). */
  apply(entries: LogEntry[]): Pending;
  /** The core advanced past the Ready: release what waited for it, take a snapshot. */
  advanced(rd: Ready): Pending;
}

/**
 * Whether a Ready's committed entries may apply while it is persisted: when it adds nothing to the
 * log, what it persists is the commit index, which is volatile (learned again from the leader), and
 * its committed entries came in earlier Readys, persisted before this one was taken. Membership
 * entries keep the order: applying them reconfigures the core.
 */
function appliesDuringPersist(rd: Ready): boolean {
  return rd.entries.length === 0 && !rd.snapshot && rd.committedEntries.length > 0 && rd.committedEntries.every((e) => e.type === EntryType.Normal);
}

/**
 * One turn of the Ready loop: persist → (restore) → send → apply → advance, a leader's messages sent
 * as the persist starts (Ready.messagesFirst), and a Ready that only commits applied as it persists
 * (the step a caller waits for after its quorum, at low load: under load new entries ride along
 * and the turn keeps its order, and its batching). Call only when `core.hasReady()`.
 */
export function runReady(core: Raft, io: ReadyIO): Pending {
  const rd = core.ready();
  if (rd.messagesFirst) io.send(rd.messages);
  const early = appliesDuringPersist(rd);
  const applying = early ? io.apply(rd.committedEntries) : undefined;
  // A failed apply fails the turn once the persist is done; until then it must not count as unhandled.
  if (applying) Promise.resolve(applying).catch(() => undefined);
  return after(io.persist(rd), () =>
    after(rd.snapshot ? io.restore(rd.snapshot) : undefined, () => {
      if (!rd.messagesFirst) io.send(rd.messages);
      if (rd.readStates.length > 0) io.readStates(rd.readStates);
      return after(early ? applying : rd.committedEntries.length > 0 ? io.apply(rd.committedEntries) : undefined, () => {
        core.advance(rd);
        return io.advanced(rd);
      });
    }),
  );
}
