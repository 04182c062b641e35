import type { RaftNode, RaftStatus } from '../raft/index.ts';
import type { Readiness } from '../http/index.ts';
import type { UpstreamStatus } from '../upstream/index.ts';

export interface MemberView {
  id: string;
  url: string | null;
  voter: boolean;
  learner: boolean;
  /** Leader-side replication progress; null when this node is not the leader. */
  match: number | null;
  lastContactMs: number | null;
  /** As far as this node knows: `self`, `ok`, `lagging`, `unreachable`, or `unknown` on a follower. */
  health: 'self' | 'ok' | 'lagging' | 'unreachable' | 'unknown';
}

export interface ClusterStatus {
  node: string;
  role: RaftStatus['role'];
  term: number;
  leader: { id: string; url: string | null } | null;
  commitIndex: number;
  appliedIndex: number;
  members: MemberView[];
  /** The modules this node's sandboxes may import, with versions and bundle hashes (sessions need the same on every node). */
  packages?: { packages: Array<{ name: string; version: string; hash: string }>; builtins: Array<{ name: string; version: string; hash: string }> };
  /** The upstream MCP servers as this node is connected to them (each node connects on its own); absent when none is configured. */
  upstreams?: UpstreamStatus[];
}

/** A peer the leader has not heard from for this long is reported unreachable (and its runs lost, see LostRuns). */
export const silentAfterMs = (electionMs: number) => 4 * electionMs;
// Entries a member may trail the leader's commit index by and still be reported `ok`.
const LAG_ENTRIES = 100;

/** What `GET /cluster/status` answers: this node's view of the cluster (no secrets in it). */
export function clusterStatus(raft: RaftNode, electionMs: number): ClusterStatus {
  const s = raft.status();
  const members = Object.entries(s.peers).map(([id, p]): MemberView => ({
    id,
    url: p.url,
    voter: p.voter,
    learner: p.learner,
    match: p.match,
    lastContactMs: id === s.id ? null : p.lastContactMs,
    health: healthOf(id, s, p.match, p.lastContactMs, electionMs),
  }));
  return { node: s.id, role: s.role, term: s.term, leader: s.leader, commitIndex: s.commit, appliedIndex: s.applied, members };
}

function healthOf(id: string, s: RaftStatus, match: number | null, lastContactMs: number | null, electionMs: number): MemberView['health'] {
  if (id === s.id) return 'self';
  if (s.role !== 'leader' || lastContactMs === null) return 'unknown';
  if (lastContactMs > silentAfterMs(electionMs)) return 'unreachable';
  return match !== null && s.commit - match > LAG_ENTRIES ? 'lagging' : 'ok';
}

/** Ready = a leader is known and this node has applied everything it knows to be committed. */
export function clusterReadiness(raft: RaftNode): Readiness {
  const s = raft.status();
  if (!s.voters.includes(s.id) && !s.learners.includes(s.id)) return { ready: false, reason: 'not a member of the cluster (yet)' };
  if (s.leader === null) return { ready: false, reason: 'no leader known (election in progress, or no quorum reachable)' };
  if (s.applied < s.commit) return { ready: false, reason: `catching up: applied ${s.applied} of ${s.commit} committed entries` };
  return { ready: true };
}
