import type { ClusterStatus } from '../cluster/index.ts';
import type { Domain } from '../api/domain.ts';
import { requestIdHeaders } from '../observability/index.ts';

/** One member as the status page shows it: its own answer to `/cluster/status`, or down. */
export interface MemberStatus {
  id: string;
  url: string | null;
  voter: boolean;
  /** Answered `/cluster/status` within the poll timeout. */
  up: boolean;
  role: string | null;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /** The leader's view of this member when the answering node leads (`ok`, `lagging`, `unreachable`), else `unknown`. */
  leaderView: string;
  error: string | null;
}

export interface NodeStatus {
  node: string;
  at: string;
  cluster: ClusterStatus;
  members: MemberStatus[];
  load: { running: number; queued: number };
  /** The caller's sessions (all of them when auth is off), with step counts; null when this node cannot read right now. */
  sessions: Array<{ name: string; steps: number; updatedAt: string }> | null;
  executions: Array<{ id: string; status: string; node: string; session: string | null; durationMs: number | null; createdAt: string }> | null;
}

const POLL_TIMEOUT_MS = 1_000;
// Several open pages share one round of peer polls per interval instead of fanning out per viewer.
const POLL_REUSE_MS = 1_000;
const LIST_LIMIT = 20;

/**
 * What `GET /status.json` answers: this node's Raft view plus every member's own answer to
 * `/cluster/status` (polled over HTTP, so a killed node shows as down on any node, not only on the
 * leader), and the caller's sessions and recent executions.
 */
export class StatusReport {
  private polled: { at: number; members: Promise<MemberStatus[]> } | null = null;

  private readonly cluster: () => ClusterStatus;
  private readonly domain: Domain;
  private readonly load: () => { running: number; queued: number };
  constructor(
    cluster: () => ClusterStatus,
    domain: Domain,
    load: () => { running: number; queued: number },
  ) {
    this.cluster = cluster;
    this.domain = domain;
    this.load = load;
  }

  async build(subject: string | undefined): Promise<NodeStatus> {
    const cluster = this.cluster();
    const [members, sessions, executions] = await Promise.all([
      this.members(cluster),
      this.domain.sessions.list({ limit: LIST_LIMIT, ...(subject !== undefined ? { subject } : {}) }).then(
        (p) => p.sessions.map((s) => ({ name: s.name, steps: s.steps, updatedAt: s.updatedAt })),
        () => null,
      ),
      this.domain.executions.list({ limit: LIST_LIMIT, ...(subject !== undefined ? { subject } : {}) }).then(
        (p) => p.executions.map((e) => ({ id: e.id, status: e.status, node: e.node, session: e.session, durationMs: e.durationMs, createdAt: e.createdAt })),
        () => null,
      ),
    ]);
    return { node: cluster.node, at: new Date().toISOString(), cluster, members, load: this.load(), sessions, executions };
  }

  private members(cluster: ClusterStatus): Promise<MemberStatus[]> {
    if (this.polled && Date.now() - this.polled.at < POLL_REUSE_MS) return this.polled.members;
    const members = Promise.all(
      cluster.members.map(async (m) => ({ ...(m.id === cluster.node ? self(cluster) : await poll(m.id, m.url, m.voter)), leaderView: m.health })),
    );
    this.polled = { at: Date.now(), members };
    return members;
  }
}

function self(s: ClusterStatus): MemberStatus {
  const me = s.members.find((m) => m.id === s.node);
  return { id: s.node, url: me?.url ?? null, voter: me?.voter ?? true, up: true, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, leaderView: 'self', error: null };
}

async function poll(id: string, url: string | null, voter: boolean): Promise<MemberStatus> {
  const down = (error: string): MemberStatus => ({ id, url, voter, up: false, role: null, term: null, commitIndex: null, appliedIndex: null, leaderView: 'unknown', error });
  if (url === null) return down('no known address');
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/cluster/status`, { headers: requestIdHeaders(), signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    if (!res.ok) return down(`HTTP ${res.status}`);
    const s = (await res.json()) as ClusterStatus;
    return { id, url, voter, up: true, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, leaderView: 'unknown', error: null };
  } catch (err) {
    return down((err as Error).name === 'TimeoutError' ? `no answer within ${POLL_TIMEOUT_MS} ms` : 'unreachable');
  }
}
