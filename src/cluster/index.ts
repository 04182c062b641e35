// The cluster layer: the domain's write path over Raft, status/readiness, membership, lost runs, and
// the local multi-process cluster. See docs/cluster.md.
export { openReplicatedLog, PROPOSAL_TIMEOUT_MS, type ReplicatedLog, type ReplicatedLogOptions } from './replicated-log.ts';
export { RaftProposer, raftUnavailable } from './raft-proposer.ts';
export { clusterReadiness, clusterStatus, type ClusterStatus, type MemberView } from './status.ts';
export { clusterRoutes } from './routes.ts';
export { LostRuns } from './lost-runs.ts';
export { adminSignature } from './admin-auth.ts';
