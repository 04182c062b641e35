import type { ClusterStatus } from '../cluster/index.ts';
import type { EdgeDomain } from '../api/domain.ts';
import { requestIdHeaders } from '../observability/index.ts';

/** One member as the status page shows it: its own answer to `/cluster/status`, or down. */
export interface MemberStatus {
  id: string;
  url: string | null;
  voter: boolean;
  /** Answered `/cluster/status` within the poll timeout; null while the first poll is still out. */
  up: boolean | null;
  role: string | null;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /**
   * The leader's view of this member (`ok`, `lagging`, `unreachable`; `leader` for the leader itself), taken
   * from the leader's own `/cluster/status` whichever node answers; `unknown` while no leader answers.
   */
  leaderView: string;
  error: string | null;
}

export interface NodeStatus {
  node: string;
  at: string;
  cluster: ClusterStatus;
  members: MemberStatus[];
  load: { running: number; queued: number };
  /**
   * The caller's sessions (all of them when auth is off), with step counts; null when this node cannot
   * read them within the answer's budget (no leader during an election): the page says so, and the next poll retries.
   */
  sessions: Array<{ name: string; steps: number; updatedAt: string }> | null;
  executions: Array<{ id: string; status: string; node: string; session: string | null; durationMs: number | null; createdAt: string }> | null;
}

const POLL_TIMEOUT_MS = 1_000;
/**
 * How long an answer waits for each part (member polls, the lists) before it goes out with what is known:
 * the page renders at once and fills in the rest from the next poll, instead of waiting on a dead
 * member's timeout or on a read that needs a leader.
 */
const PART_BUDGET_MS = 300;
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
  /** The latest completed round of polls: what an answer shows while a new round is still out. */
  private lastMembers: MemberStatus[] | null = null;

  private readonly cluster: () => ClusterStatus;
  private readonly domain: EdgeDomain;
  private readonly load: () => { running: number; queued: number };
  constructor(
    cluster: () => ClusterStatus,
    domain: EdgeDomain,
    load: () => { running: number; queued: number },
  ) {
    this.cluster = cluster;
    this.domain = domain;
    this.load = load;
  }

  async build(subject: string | undefined): Promise<NodeStatus> {
    const cluster = this.cluster();
    const mine = subject !== undefined ? { subject } : {};
    const [members, sessions, executions] = await Promise.all([
      within(this.members(cluster), this.lastMembers ?? unpolled(cluster)),
      within(
        this.domain.sessions.list({ limit: LIST_LIMIT, ...mine }).then(
          (p) => p.sessions.map((s) => ({ name: s.name, steps: s.steps, updatedAt: s.updatedAt })),
          () => null,
        ),
        null,
      ),
      within(
        this.domain.executions.list({ limit: LIST_LIMIT, ...mine }).then(
          (p) => p.executions.map((e) => ({ id: e.id, status: e.status, node: e.node, session: e.session, durationMs: e.durationMs, createdAt: e.createdAt })),
          () => null,
        ),
        null,
      ),
    ]);
    return { node: cluster.node, at: new Date().toISOString(), cluster, members, load: this.load(), sessions, executions };
  }

  private members(cluster: ClusterStatus): Promise<MemberStatus[]> {
    if (this.polled && Date.now() - this.polled.at < POLL_REUSE_MS) return this.polled.members;
    const members = Promise.all(cluster.members.map((m) => (m.id === cluster.node ? { member: self(cluster), status: cluster } : poll(m.id, m.url, m.voter)))).then((answers) => {
      // The leader's view, from the leader's own answer: a follower knows nothing of the others' health.
      const leader = answers.find((a) => a.status?.role === 'leader')?.status;
      const health = new Map(leader?.members.map((m) => [m.id, m.id === leader.node ? 'leader' : m.health]) ?? []);
      const out = answers.map((a) => ({ ...a.member, leaderView: health.get(a.member.id) ?? 'unknown' }));
      this.lastMembers = out;
      return out;
    });
    this.polled = { at: Date.now(), members };
    return members;
  }
}

/** `work`'s value if it settles within the budget, else `fallback` (the work goes on, for the next answer). */
function within<T, F>(work: Promise<T>, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), PART_BUDGET_MS)));
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** The members before any poll has answered: known by the local view, state not yet known. */
function unpolled(cluster: ClusterStatus): MemberStatus[] {
  return cluster.members.map((m) =>
    m.id === cluster.node ? self(cluster) : { id: m.id, url: m.url, voter: m.voter, up: null, role: null, term: null, commitIndex: null, appliedIndex: null, leaderView: 'unknown', error: null },
  );
}

function self(s: ClusterStatus): MemberStatus {
  const me = s.members.find((m) => m.id === s.node);
  return { id: s.node, url: me?.url ?? null, voter: me?.voter ?? true, up: true, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, leaderView: 'self', error: null };
}

async function poll(id: string, url: string | null, voter: boolean): Promise<{ member: MemberStatus; status: ClusterStatus | null }> {
  const down = (error: string) => ({
    member: { id, url, voter, up: false, role: null, term: null, commitIndex: null, appliedIndex: null, leaderView: 'unknown', error },
    status: null,
  });
  if (url === null) return down('no known address');
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/cluster/status`, { headers: requestIdHeaders(), signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    if (!res.ok) return down(`HTTP ${res.status}`);
    const s = (await res.json()) as ClusterStatus;
    return { member: { id, url, voter, up: true, role: s.role, term: s.term, commitIndex: s.commitIndex, appliedIndex: s.appliedIndex, leaderView: 'unknown', error: null }, status: s };
  } catch (err) {
    return down((err as Error).name === 'TimeoutError' ? `no answer within ${POLL_TIMEOUT_MS} ms` : 'unreachable');
  }
}
