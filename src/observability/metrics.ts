import type { EgressOutcome } from '../egress/index.ts';
import type { UpstreamCallOutcome, UpstreamStatus } from '../upstream/index.ts';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the scrape-time gauges read: each is cheap and synchronous (no I/O, no Raft round). */
export interface NodeGauges {
  raft(): {
    role: string;
    term: number;
    commit: number;
    applied: number;
    lastIndex: number;
    snapshotIndex: number;
    peers: Record<string, { match: number | null; lastContactMs: number | null }>;
    id: string;
  };
  pool(): { isolates: number; idle: number; waiting: number };
  admission(): { running: number; queued: number };
  liveSessions(): number;
  /** Releases of session state objects waiting to be collected. */
  collectQueue(): number;
  /** The quota use of the subjects that ran on this node in the last minute (a bounded few). */
  usage(): Array<{ subject: string | null; liveSessions: number; storedBytes: number; concurrentRuns: number; cpuSecsLastMinute: number }>;
  /** The upstream MCP servers' states (none configured: empty). */
  upstreams?(): UpstreamStatus[];
}

export type TokenOutcome = 'issued' | 'refreshed' | 'rejected' | 'revoked';

const ROLES = ['leader', 'follower', 'candidate', 'pre-candidate'] as const;
// Runs last from a few ms to the 300 s cap; proposals from sub-ms (one fsync) to the 5 s timeout.
const RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const RAFT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * A node's Prometheus metrics in a registry of its own (several nodes in one test process must not
 * share prom-client's global one). Events are counted through the methods below, which the wiring
 * hands to the parts as their observers; state (Raft, pool, queue, sessions) is read at scrape time.
 * Every label has a small closed set of values: no ids, names or subjects.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly executions: Counter<'status'>;
  private readonly executionSeconds: Histogram;
  private readonly admissionRejections: Counter;
  private readonly replaySeconds: Histogram;
  private readonly proposalSeconds: Histogram<'outcome'>;
  private readonly snapshots: Counter<'kind'>;
  private readonly snapshotBytes: Gauge;
  private readonly tokens: Counter<'outcome'>;
  private readonly egressRequests: Counter<'outcome' | 'rule'>;
  private readonly egressBytes: Counter<'direction'>;
  private readonly egressSeconds: Histogram;
  private readonly upstreamCalls: Counter<'server' | 'outcome'>;
  private readonly upstreamSeconds: Histogram<'server'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.executions = new Counter({ name: 'raftbox_executions_total', help: 'Executions this node ran to an end, by final status.', labelNames: ['status'], registers });
    this.executionSeconds = new Histogram({ name: 'raftbox_execution_duration_seconds', help: 'Run time of executions on this node (start to end, queueing excluded).', buckets: RUN_BUCKETS, registers });
    this.admissionRejections = new Counter({ name: 'raftbox_admission_rejections_total', help: 'Runs refused with 429 because the admission queue was full.', registers });
    this.replaySeconds = new Histogram({
      name: 'raftbox_session_replay_seconds',
      help: 'Time replaying journal steps into a warm session isolate (count = replays): on a step\'s request path, or in the background as a warm standby.',
      labelNames: ['path'],
      buckets: RUN_BUCKETS,
      registers,
    });
    this.proposalSeconds = new Histogram({ name: 'raftbox_raft_proposal_seconds', help: 'Raft proposals from propose to local apply, by outcome.', labelNames: ['outcome'], buckets: RAFT_BUCKETS, registers });
    this.snapshots = new Counter({ name: 'raftbox_raft_snapshots_total', help: 'Raft snapshots taken locally, streamed to a follower, or installed from the leader.', labelNames: ['kind'], registers });
    this.snapshotBytes = new Gauge({ name: 'raftbox_raft_snapshot_bytes', help: 'Bytes of the latest snapshot streamed to a follower or installed from the leader.', registers });
    this.tokens = new Counter({ name: 'raftbox_oauth_tokens_total', help: 'OAuth token outcomes: issued, refreshed, rejected (a bearer token refused), revoked.', labelNames: ['outcome'], registers });
    // `rule` is the text of the operator's allowing rule ('' when none matched): a closed set the operator wrote.
    this.egressRequests = new Counter({ name: 'raftbox_egress_requests_total', help: 'Sandbox fetch calls this node performed or refused, by outcome and allowing rule.', labelNames: ['outcome', 'rule'], registers });
    this.egressBytes = new Counter({ name: 'raftbox_egress_bytes_total', help: 'Body bytes of sandbox fetch calls: sent (request bodies) and received (response bodies).', labelNames: ['direction'], registers });
    this.egressSeconds = new Histogram({ name: 'raftbox_egress_request_duration_seconds', help: 'Time of one sandbox fetch call, redirects and body included.', buckets: RAFT_BUCKETS.concat([10, 30]), registers });
    // `server` is an upstream's configured name: a closed set the operator wrote.
    this.upstreamCalls = new Counter({ name: 'raftbox_upstream_tool_calls_total', help: 'Upstream MCP tool calls from the sandbox, by server and outcome (refused and invalid_arguments never reached the server).', labelNames: ['server', 'outcome'], registers });
    this.upstreamSeconds = new Histogram({ name: 'raftbox_upstream_tool_call_duration_seconds', help: 'Time of one upstream MCP tool call from the sandbox, by server.', labelNames: ['server'], buckets: RAFT_BUCKETS.concat([10, 30, 60]), registers });
    for (const direction of ['sent', 'received']) this.egressBytes.inc({ direction }, 0);
    for (const status of ['completed', 'failed', 'timeout', 'memory_limit', 'cancelled']) this.executions.inc({ status }, 0);
    for (const outcome of ['issued', 'refreshed', 'rejected', 'revoked'] satisfies TokenOutcome[]) this.tokens.inc({ outcome }, 0);
    for (const kind of ['taken', 'sent', 'installed']) this.snapshots.inc({ kind }, 0);
  }

  // ---- observers, called by the parts (cheap: a counter or histogram update) ----------------------

  executionFinished(status: string, durationMs: number | null): void {
    this.executions.inc({ status });
    if (durationMs !== null) this.executionSeconds.observe(durationMs / 1000);
  }

  admissionRejected(): void {
    this.admissionRejections.inc();
  }

  sessionReplayed(seconds: number, path: 'request' | 'standby'): void {
    this.replaySeconds.observe({ path }, seconds);
  }

  proposed(seconds: number, ok: boolean): void {
    this.proposalSeconds.observe({ outcome: ok ? 'ok' : 'error' }, seconds);
  }

  snapshot(kind: 'taken' | 'sent' | 'installed', bytes: number | null): void {
    this.snapshots.inc({ kind });
    if (bytes !== null) this.snapshotBytes.set(bytes);
  }

  token(outcome: TokenOutcome): void {
    this.tokens.inc({ outcome });
  }

  egressRequest(outcome: EgressOutcome, rule: string, seconds: number, bytesSent: number, bytesReceived: number): void {
    this.egressRequests.inc({ outcome, rule });
    this.egressSeconds.observe(seconds);
    this.egressBytes.inc({ direction: 'sent' }, bytesSent);
    this.egressBytes.inc({ direction: 'received' }, bytesReceived);
  }

  upstreamCall(server: string, outcome: UpstreamCallOutcome, seconds: number): void {
    this.upstreamCalls.inc({ server, outcome });
    if (outcome !== 'refused' && outcome !== 'invalid_arguments') this.upstreamSeconds.observe({ server }, seconds);
  }

  // ---- state read at scrape time --------------------------------------------------------------------

  /** Registers the gauges computed from the node's state on every scrape. Call once, at wiring. */
  gauges(node: NodeGauges): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    gauge('raftbox_admission_queue_depth', 'Runs waiting for a free slot.', () => node.admission().queued);
    gauge('raftbox_admission_running', 'Runs holding a slot.', () => node.admission().running);
    gauge('raftbox_pool_isolates', 'Isolates alive in the stateless pool (idle or busy).', () => node.pool().isolates);
    gauge('raftbox_pool_idle_isolates', 'Idle isolates in the stateless pool.', () => node.pool().idle);
    gauge('raftbox_live_sessions', 'Warm session isolates held on this node.', () => node.liveSessions());
    gauge('raftbox_session_collect_queue', 'Releases of session state objects waiting for the leader to collect them.', () => node.collectQueue());
    new Gauge({
      name: 'raftbox_upstream_up',
      help: 'Whether this node is connected to an upstream MCP server (1) or not (0), by server.',
      labelNames: ['server'],
      registers,
      collect() {
        for (const u of node.upstreams?.() ?? []) this.set({ server: u.name }, u.state === 'ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'raftbox_upstream_tools',
      help: 'Tools an upstream MCP server offers, as this node last listed them, by server.',
      labelNames: ['server'],
      registers,
      collect() {
        for (const u of node.upstreams?.() ?? []) this.set({ server: u.name }, u.tools);
      },
    });
    gauge('raftbox_raft_term', 'Current Raft term.', () => node.raft().term);
    gauge('raftbox_raft_commit_index', 'Highest log index known committed.', () => node.raft().commit);
    gauge('raftbox_raft_applied_index', 'Highest log index applied to the state machine.', () => node.raft().applied);
    gauge('raftbox_raft_last_index', 'Last index in the local log.', () => node.raft().lastIndex);
    gauge('raftbox_raft_snapshot_index', 'Index of the latest snapshot.', () => node.raft().snapshotIndex);
    new Gauge({
      name: 'raftbox_raft_role',
      help: 'This node\'s Raft role (1 for the current one).',
      labelNames: ['role'],
      registers,
      collect() {
        const role = node.raft().role;
        for (const r of ROLES) this.set({ role: r }, r === role ? 1 : 0);
      },
    });
    // Only subjects active on this node lately, and a bounded number of them: labels stay few.
    new Gauge({
      name: 'raftbox_quota_usage',
      help: 'Use of each quota by the subjects that ran here in the last minute (subject "" with OAuth off).',
      labelNames: ['subject', 'quota'],
      registers,
      collect() {
        this.reset();
        for (const u of node.usage()) {
          const subject = u.subject ?? '';
          this.set({ subject, quota: 'live_sessions' }, u.liveSessions);
          this.set({ subject, quota: 'stored_bytes' }, u.storedBytes);
          this.set({ subject, quota: 'concurrent_runs' }, u.concurrentRuns);
          this.set({ subject, quota: 'cpu_secs_last_minute' }, u.cpuSecsLastMinute);
        }
      },
    });
    // Per-peer series exist only on the leader (only it tracks progress); reset drops stale peers.
    new Gauge({
      name: 'raftbox_raft_peer_match_lag_entries',
      help: 'Leader only: entries a peer\'s log trails the commit index by.',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        const s = node.raft();
        for (const [peer, p] of Object.entries(s.peers)) if (peer !== s.id && p.match !== null) this.set({ peer }, Math.max(0, s.commit - p.match));
      },
    });
    new Gauge({
      name: 'raftbox_raft_peer_last_contact_seconds',
      help: 'Leader only: time since a peer last answered.',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        const s = node.raft();
        for (const [peer, p] of Object.entries(s.peers)) if (peer !== s.id && p.lastContactMs !== null) this.set({ peer }, p.lastContactMs / 1000);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
