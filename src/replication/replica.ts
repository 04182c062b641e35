import { randomBytes } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { RaftNode, type RaftObserver } from '../raft/index.ts';
import { CommandLog, ReplicatedState, type StateModule } from '../store/index.ts';
import { RaftProposer } from './raft-proposer.ts';

export interface ReplicaOptions {
  nodeId: string;
  /** All members as id → base URL (this node included); empty: a cluster of one. */
  peers: Record<string, string>;
  dataDir: string;
  /** Authenticates node-to-node traffic; a lone node talks to nobody and gets a random one. */
  secret?: string;
  /** Start outside the membership and wait to be added by the running cluster. */
  join?: boolean;
  modules: StateModule[];
  /** Bytes of cold state values cached in memory (the rest stays on disk). */
  cacheBytes?: number;
  /** Raft timing, for tests that want faster elections. */
  raft?: { tickMs?: number; electionTicks?: number; proposalTimeoutMs?: number; snapshotEvery?: number; snapshotBytes?: number };
  onError?: (err: unknown) => void;
  /** Metrics and request-id hooks of the node's operator. */
  observer?: RaftObserver;
}

/** A node's replica: its replicated state, the Raft node that orders its commands, and the log the domain writes through. */
export interface Replica {
  readonly state: ReplicatedState;
  /** Raft's election timeout (ms): the unit the cluster layer measures silence in. */
  readonly electionMs: number;
  readonly raft: RaftNode;
  /** What the domain writes through (its commands are Raft entries of `raft`). */
  readonly commandLog: CommandLog;
  close(): Promise<void>;
}

// Long enough to ride out an election (~0.5-1 s) and a slow fsync, short enough that a node without
// a quorum answers 503 instead of leaving its caller hanging.
export const PROPOSAL_TIMEOUT_MS = 5_000;
const TICK_MS = 50;
const ELECTION_TICKS = 10;

/**
 * Opens `<dataDir>/state` (the state machine; `state.incoming` while a snapshot is received) and `<dataDir>/raft` (its log) and starts the Raft node.
 * A single node is a Raft cluster of one: the product has one write path.
 */
export async function openReplica(opts: ReplicaOptions): Promise<Replica> {
  await makeDataDir(opts.dataDir);
  const state = await ReplicatedState.open(join(opts.dataDir, 'state'), opts.modules, opts.cacheBytes === undefined ? {} : { cacheBytes: opts.cacheBytes });
  const tickMs = opts.raft?.tickMs ?? TICK_MS;
  const electionTicks = opts.raft?.electionTicks ?? ELECTION_TICKS;
  let raft: RaftNode;
  try {
    raft = await RaftNode.start({
      id: opts.nodeId,
      peers: opts.peers,
      ...(opts.peers[opts.nodeId] ? { url: opts.peers[opts.nodeId] } : {}),
      dataDir: opts.dataDir, // raft keeps its log in <dataDir>/raft
      secret: opts.secret ?? randomBytes(32).toString('hex'),
      stateMachine: state,
      join: opts.join ?? false,
      proposalTimeoutMs: opts.raft?.proposalTimeoutMs ?? PROPOSAL_TIMEOUT_MS,
      tickMs,
      electionTicks,
      ...(opts.raft?.snapshotEvery ? { snapshotEvery: opts.raft.snapshotEvery } : {}),
      ...(opts.raft?.snapshotBytes ? { snapshotBytes: opts.raft.snapshotBytes } : {}),
      ...(opts.onError ? { onError: opts.onError } : {}),
      ...(opts.observer ? { observer: opts.observer } : {}),
    });
  } catch (err) {
    await state.close();
    throw err;
  }
  return {
    state,
    raft,
    electionMs: tickMs * electionTicks,
    commandLog: new CommandLog(new RaftProposer(raft)),
    async close() {
      await raft.stop();
      await state.close();
    },
  };
}

/**
 * `mkdir -p` one level at a time: Node 20's recursive mkdir never settles for a path it cannot
 * create under a parent that exists (`/proc/x`), and the node would hang at start instead of saying so.
 */
async function makeDataDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = resolve(dir); ; at = dirname(at)) {
    const found = await stat(at).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw new Error(`cannot use data dir ${dir}: ${e.code ?? e.message} at ${at}`);
    });
    if (found?.isDirectory()) break;
    if (found) throw new Error(`data dir ${dir}: ${at} is not a directory`);
    missing.push(at);
    if (dirname(at) === at) break;
  }
  for (const at of missing.reverse()) {
    await mkdir(at).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw new Error(`cannot create data dir ${dir}: ${e.code ?? e.message} at ${at}`);
    });
  }
}
