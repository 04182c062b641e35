// The cluster layer: status/readiness, membership, lost runs, and the local multi-process cluster.
// The domain's write path over Raft is src/replication. See docs/cluster.md.
export { clusterReadiness, clusterStatus, type ClusterStatus, type MemberView } from './status.ts';
export { clusterRoutes } from './routes.ts';
export { LostRuns } from './lost-runs.ts';
export { adminSignature } from './admin-auth.ts';
