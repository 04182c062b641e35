// Typed errors the product can tell apart. None of them means "maybe applied" except TimeoutError.

/** This node is not the leader and cannot forward (no leader known, or forwarding is off). */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
  readonly leaderId: string | null;
  readonly leaderUrl: string | null;
  constructor(leaderId: string | null, leaderUrl: string | null, options?: ErrorOptions) {
    super(leaderId ? `not the leader; leader is ${leaderId} (${leaderUrl ?? 'unknown address'})` : 'not the leader; no leader known', options);
    this.leaderId = leaderId;
    this.leaderUrl = leaderUrl;
  }
}

/** The proposal was definitely not committed: rejected before appending, or overwritten by a new leader. */
export class ProposalDroppedError extends Error {
  override readonly name = 'ProposalDroppedError';
  readonly reason: string;
  constructor(reason: string) {
    super(`proposal dropped: ${reason}`);
    this.reason = reason;
  }
}

/** No answer in time. The proposal may still commit later (outcome unknown). */
export class RaftTimeoutError extends Error {
  override readonly name = 'RaftTimeoutError';
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
  }
}

/** A learner to be promoted has not been heard from for a while: it was not promoted (nothing committed). */
export class LearnerSilentError extends Error {
  override readonly name = 'LearnerSilentError';
  readonly learner: string;
  readonly silentMs: number;
  constructor(
    learner: string,
    silentMs: number,
  ) {
    super(`learner ${learner} has not answered the leader for ${silentMs} ms`);
    this.learner = learner;
    this.silentMs = silentMs;
  }
}

/** The node was stopped while the request was pending. */
export class RaftStoppedError extends Error {
  override readonly name = 'RaftStoppedError';
  constructor() {
    super('raft node stopped');
  }
}

/** Another process holds the data directory's LevelDB lock. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  readonly dataDir: string;
  constructor(dataDir: string) {
    super(`data dir ${dataDir} is in use by another process`);
    this.dataDir = dataDir;
  }
}
