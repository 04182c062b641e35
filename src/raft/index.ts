// Public face of raftbox's Raft: the node driver, the state-machine contract and typed errors.
export { RaftNode } from './node.ts';
export type { RaftNodeOptions, RaftObserver, RaftStatus, PeerInfo, ProposeOptions, StateMachine } from './node.ts';
export type { Entry, NodeId, Role, SnapshotRestore } from './types.ts';
export { LearnerSilentError, NotLeaderError, ProposalDroppedError, RaftTimeoutError, RaftStoppedError, DataDirInUseError } from './errors.ts';
export { RAFT_PREFIX, RAFT_STREAM_PATH } from './transport.ts';
