/** The secret test clusters share (RAFTBOX_CLUSTER_SECRET for child nodes, `secret` for in-process RaftNodes). */
export const CLUSTER_SECRET = 'test-cluster-secret-0123456789';
