// A node's replica: the replicated state, the Raft node that orders its commands, and the adapter
// the domain's CommandLog proposes through. It sits above raft/ and store/ and below everything
// that writes (sessions, executions, auth reach it through store's CommandLog) and the cluster
// layer that wires and watches the node.
export { openReplica, PROPOSAL_TIMEOUT_MS, type Replica, type ReplicaOptions } from './replica.ts';
export { RaftProposer, raftUnavailable } from './raft-proposer.ts';
