import { unavailable, UserError } from '../errors.ts';
import { NotLeaderError, ProposalDroppedError, RaftStoppedError, RaftTimeoutError, type RaftNode } from '../raft/index.ts';
import type { ProposalOptions, Proposer } from '../store/index.ts';

/**
 * The store's write path over a RaftNode. Raft's typed errors become `unavailable` (503 with
 * Retry-After) with a message a caller can act on, and concurrent linearizable reads share one
 * ReadIndex round: a round that starts after a caller arrived covers that caller, so under load one
 * round serves every read that queued behind the one in flight. A local read needs no round.
 */
export class RaftProposer implements Proposer {
  private reading: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  private readonly raft: RaftNode;
  constructor(raft: RaftNode) {
    this.raft = raft;
  }

  async propose(data: Uint8Array, opts: ProposalOptions = {}): Promise<unknown> {
    try {
      return await this.raft.propose(data, opts);
    } catch (err) {
      throw raftUnavailable(err, 'write');
    }
  }

  localRead(): Promise<void> {
    return this.raft.localRead().catch(unavailableRead);
  }

  linearizableRead(): Promise<void> {
    if (this.reading === null) return this.startRead();
    // The round in flight began before this call, so it may miss a write acknowledged just now.
    return (this.queued ??= this.reading.then(
      () => this.startQueued(),
      () => this.startQueued(),
    ));
  }

  private startQueued(): Promise<void> {
    this.queued = null;
    return this.startRead();
  }

  private startRead(): Promise<void> {
    const round = this.raft.linearizableRead().catch(unavailableRead);
    this.reading = round;
    const clear = () => {
      if (this.reading === round) this.reading = null;
    };
    round.then(clear, clear);
    return round;
  }
}

function unavailableRead(err: unknown): never {
  throw raftUnavailable(err, 'read');
}

/** What a Raft failure means to a caller. Anything else is passed through unchanged (a bug stays a bug). */
export function raftUnavailable(err: unknown, kind: 'write' | 'read'): unknown {
  if (err instanceof UserError) return err;
  const what =
    kind === 'write'
      ? 'the write was not acknowledged'
      : 'it cannot confirm it has the latest committed state, so it does not answer from possibly stale data';
  if (err instanceof NotLeaderError) return unavailable(`this node knows no reachable leader (election in progress, or no quorum reachable); ${what}`, 1);
  if (err instanceof RaftTimeoutError) {
    const outcome = kind === 'write' ? ' (it may still be applied: retry with an idempotency key to be safe)' : '';
    return unavailable(`this node cannot reach a quorum; ${what}${outcome}`, 1);
  }
  if (err instanceof ProposalDroppedError) return unavailable(`the cluster's leadership changed while writing; ${what}; retry`, 1);
  if (err instanceof RaftStoppedError) return unavailable(`this node is shutting down; ${what}`, 1);
  return err;
}
