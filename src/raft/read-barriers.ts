// The two read barriers a node offers, named by what they promise:
// - linearizable: once it resolves, this node has applied every entry committed anywhere before
//   the call (ReadIndex, §6.4 of the Raft thesis: the leader confirms it still leads with a
//   heartbeat round, names its commit index, and the read waits until that index is applied here);
// - local: this node has applied every entry it knows to be committed. No message is sent; the
//   leader may have committed more (etcd's serializable read), so it serves callers that check
//   again when they write (a session step's compare-and-set).
// Both wait out an election (no leader known) until their deadline; neither serves a node that
// finds no leader, since what it holds may be stale.
import { randomBytes } from 'node:crypto';
import { NotLeaderError, RaftTimeoutError } from './errors.ts';
import type { Raft } from './raft.ts';
import { contextKey } from './read-only.ts';
import type { ReadState } from './types.ts';

/**
 * The index a local read waits to have applied: the commit index this node knows, or null while it
 * knows no leader (an election is on, or it is cut off), when what it holds may be stale.
 */
export function localReadPoint(core: Pick<Raft, 'lead' | 'log'>): number | null {
  return core.lead === null ? null : core.log.committed;
}

/** What the barriers need from the node that drives the core. */
export interface ReadHost {
  readonly core: Raft;
  /** Runs the Ready loop soon (a ReadIndex request is a message to send). */
  kick(): void;
  /** Resolves once a leader is known; NotLeaderError at `deadline` (epoch ms). */
  leaderKnown(deadline: number): Promise<void>;
  /** A ReadIndex round not answered in this long is asked again (the leader may have changed). */
  readonly roundMs: number;
  assertRunning(): void;
}

interface PendingRead {
  /** The index to have applied; null until the leader names it. */
  index: number | null;
  resolve(): void;
  reject(e: unknown): void;
}

export class ReadBarriers {
  private readonly pending = new Map<string, PendingRead>();
  private seq = 0;
  /** Tells this node's ReadIndex contexts from another run's (a restart reuses the sequence). */
  private readonly prefix = randomBytes(6).toString('hex');

  private readonly host: ReadHost;
  constructor(host: ReadHost) {
    this.host = host;
  }

  async linearizable(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.host.assertRunning();
      await this.host.leaderKnown(deadline);
      const roundMs = Math.min(this.host.roundMs, deadline - Date.now());
      if (roundMs <= 0) throw new RaftTimeoutError('linearizable read', timeoutMs);
      try {
        return await this.round(roundMs);
      } catch (e) {
        // A lost request or a leader change: ask again (reads are idempotent) until the deadline.
        if (!(e instanceof RaftTimeoutError) && !(e instanceof NotLeaderError)) throw e;
      }
    }
  }

  async local(timeoutMs: number): Promise<void> {
    this.host.assertRunning();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.host.leaderKnown(deadline);
      const index = localReadPoint(this.host.core);
      if (index === null) continue; // the leader was lost again in between: wait once more
      if (this.host.core.log.applied >= index) return;
      return this.wait(`local:${++this.seq}`, index, Math.max(1, deadline - Date.now()), 'local read');
    }
  }

  /** From a Ready: the read index the leader named for each of this node's ReadIndex requests. */
  named(states: readonly ReadState[]): void {
    for (const rs of states) {
      const r = this.pending.get(contextKey(rs.context));
      if (r) r.index = rs.index;
    }
  }

  /** After the core advanced: releases every read whose index is applied. */
  release(applied: number): void {
    for (const [key, r] of this.pending) {
      if (r.index !== null && r.index <= applied) {
        this.pending.delete(key);
        r.resolve();
      }
    }
  }

  rejectAll(err: unknown): void {
    for (const r of this.pending.values()) r.reject(err);
    this.pending.clear();
  }

  private round(timeoutMs: number): Promise<void> {
    const ctx = new TextEncoder().encode(`${this.prefix}:${++this.seq}`);
    const key = contextKey(ctx);
    const read = this.wait(key, null, timeoutMs, 'linearizable read');
    try {
      this.host.core.readIndex(ctx);
    } catch (e) {
      this.pending.get(key)?.reject(e);
      this.pending.delete(key);
      return read;
    }
    this.host.kick();
    return read;
  }

  /** A read released once `index` is applied (`null`: once the leader names it); rejected after `timeoutMs`. */
  private wait(key: string, index: number | null, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new RaftTimeoutError(what, timeoutMs));
      }, timeoutMs);
      const settle = (f: () => void) => {
        clearTimeout(timer);
        f();
      };
      this.pending.set(key, { index, resolve: () => settle(resolve), reject: (e) => settle(() => reject(e)) });
    });
  }
}
