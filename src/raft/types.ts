// Plain data shared by the core, storage, transport and driver. Nothing here does I/O.

export type NodeId = string;

/** Public shape of a log entry as the state machine sees it. */
export interface Entry {
  index: number;
  term: number;
  data: Uint8Array;
}

export const EntryType = { Normal: 0, ConfChange: 1 } as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** A log entry as raft stores it: normal entries carry opaque commands (empty = leader no-op). */
export interface LogEntry extends Entry {
  type: EntryType;
}

/** Durable per-node state (Raft §5.1 "persistent state on all servers" plus the commit index). */
export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

/** Membership. `addrs` holds base URLs of members added at run time (bootstrap members' URLs come from config). */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  addrs: Record<NodeId, string>;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

/** A state-machine snapshot being received: its chunks written aside until `finish` makes them the state. */
export interface SnapshotRestore {
  write(chunk: Uint8Array): Promise<void>;
  /** Makes what was written the state as of at least `at` (its Raft snapshot), unless the state is already past it; resolves with whether it did. */
  finish(at: { index: number; term: number }): Promise<boolean>;
  abort(): Promise<void>;
}

/** What was durable when a node stopped: the hard state, the latest snapshot and the entries after it. */
export interface DurableState {
  hardState?: HardState;
  snapshot?: Snapshot;
  entries: LogEntry[];
}

export type ConfChangeType = 'addVoter' | 'addLearner' | 'promote' | 'remove';
export interface ConfChange {
  type: ConfChangeType;
  id: NodeId;
  addr?: string;
}

export const MessageType = {
  Hup: 0, // local: start an election
  Beat: 1, // local: leader heartbeat
  // 2 was a local proposal message; proposals enter the core through propose(), never as a message.
  App: 3,
  AppResp: 4,
  Vote: 5,
  VoteResp: 6,
  PreVote: 7,
  PreVoteResp: 8,
  Snap: 9,
  Heartbeat: 10,
  HeartbeatResp: 11,
  TransferLeader: 12,
  TimeoutNow: 13,
  ReadIndex: 14,
  ReadIndexResp: 15,
  SnapStatus: 16, // local: driver reports snapshot send outcome
  Unreachable: 17, // local: driver reports a failed send
  CheckQuorum: 18, // local
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * One message shape for every RPC, as in etcd: fields unused by a type are left at their zero value.
 * `index`/`logTerm` are the prev-entry position for App, the last-entry position for votes, and the
 * acknowledged index for AppResp. `context` carries the ReadIndex request id or the transfer flag.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  logTerm: number;
  index: number;
  commit: number;
  entries: LogEntry[];
  reject: boolean;
  rejectHint: number;
  snapshot?: Snapshot;
  context?: Uint8Array;
  /** App carrying no entries, only the commit index, to a follower with nothing to catch up: no answer unless it rejects. */
  commitOnly?: boolean;
}

export interface ReadState {
  index: number;
  context: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export function message(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: '',
    to: '',
    term: 0,
    logTerm: 0,
    index: 0,
    commit: 0,
    entries: [],
    reject: false,
    rejectHint: 0,
    ...m,
  };
}

/** Types only a node's own driver produces: the core refuses them from the network (etcd's IsLocalMsg). */
export function isLocalMessage(t: MessageType): boolean {
  return (
    t === MessageType.Hup ||
    t === MessageType.Beat ||
    t === MessageType.SnapStatus ||
    t === MessageType.Unreachable ||
    t === MessageType.CheckQuorum
  );
}
