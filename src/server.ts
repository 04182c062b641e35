import type { IncomingMessage, Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import type { Logger } from 'pino';
import { clusterReadiness, clusterRoutes, clusterStatus, LostRuns, type ClusterStatus } from './cluster/index.ts';
import { openReplica } from './replication/index.ts';
import { ConfigError, type Config } from './config/index.ts';
import { Egress, EgressRuleError } from './egress/index.ts';
import type { EdgeDomain } from './api/domain.ts';
import type { EdgeLimits } from './api/operations.ts';
import { restRoutes } from './api/rest.ts';
import { createApp, guardOf, type AuthGate, type Readiness } from './http/index.ts';
import { isLoopbackAddress, originCheck } from './http/origin-check.ts';
import { cancelRequestsModule, MCP_PATH, mcpRoutes } from './mcp/index.ts';
import { createDomain, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECS, domainModules } from './executions/index.ts';
import { join } from 'node:path';
import { IsolatePool, PackageSet, RAFTBOX_ROOT } from './sandbox/index.ts';
import type { CommandLog, ReplicatedState } from './store/index.ts';
import { unavailable } from './errors.ts';
import { createAuth, oauthStateModule } from './auth/index.ts';
import { createLogger as newLogger, Metrics, metricsRoute, peerCallLog, requestIdHeaders } from './observability/index.ts';
import type { RaftNode } from './raft/index.ts';
import { statusPageRoutes } from './status-page/index.ts';
import { codeMode } from './upstream/index.ts';
import { defaultWarmMemoryMb, queuedReleases, SESSION_MODULE, SessionSweeper, warmCountLimit } from './sessions/index.ts';

/** A running node: where it listens, and how to stop it. */
export interface NodeHandle {
  readonly url: string;
  readonly port: number;
  readonly config: Config;
  readonly log: Logger;
  /**
   * Graceful shutdown: stops accepting, gives running executions `shutdownGraceSecs` (then fails them
   * as "node shutting down"), hands Raft leadership away (unless the whole cluster is stopping: then
   * no one is left to take it), closes Raft and LevelDB.
   */
  close(opts?: CloseOptions): Promise<void>;
}

/** The domain of a node and what it holds open. */
export interface OpenDomain {
  /** With `tools` when upstream MCP servers are configured (code mode). */
  domain: EdgeDomain;
  /** The replicated state and its write path, for the OAuth server's state. */
  store: { state: ReplicatedState; log: CommandLog };
  readiness(): Readiness;
  /** Node-to-node Raft streams: HTTP upgrades to `/raft/stream` (see src/raft/transport.ts). */
  raftStream: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Routes of the cluster layer (`/cluster/*`), mounted before the product's. */
  routes?: Koa.Middleware[];
  /** This node's view of the cluster (what `/cluster/status` answers), and its runs in progress. */
  cluster(): ClusterStatus;
  load(): { running: number; queued: number };
  close(opts?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /** False when every member is stopping at once (`raftbox cluster` ending): a hand-off would only time out. */
  handOff?: boolean;
}

export interface NodeOptions {
  log?: Logger;
}

export function createLogger(config: Config, fd: 1 | 2 = 1): Logger {
  return newLogger({ level: config.logLevel, nodeId: config.nodeId }, fd);
}

/** Whether `/metrics` answers without a token when OAuth is on (see `metricsPublic`). */
function metricsArePublic(config: Config): boolean {
  return config.metricsPublic ?? isLoopbackAddress(config.host);
}

export const limitsOf = (config: Config): EdgeLimits => ({
  maxWaitMs: config.maxTimeoutSecs * 1000 + 60_000,
  sandbox: {
    defaultMemoryMb: Math.min(DEFAULT_MEMORY_MB, config.maxMemoryMb),
    maxMemoryMb: config.maxMemoryMb,
    defaultTimeoutSecs: Math.min(DEFAULT_TIMEOUT_SECS, config.maxTimeoutSecs),
    maxTimeoutSecs: config.maxTimeoutSecs,
    maxOutputBytes: config.maxOutputBytes,
    maxArtifactBytes: config.maxArtifactBytes,
    maxInputBytes: config.maxInputBytes,
    maxBodyBytes: config.maxBodyBytes,
  },
});

/**
 * Starts one node: opens its domain, then serves REST, MCP and health on `config.host:config.port`.
 * The whole wiring of a node is here.
 */
export async function startNode(config: Config, opts: NodeOptions = {}): Promise<NodeHandle> {
  const log = opts.log ?? createLogger(config);
  const metrics = new Metrics();
  const opened = await openDomain(config, log, metrics);
  const server = createServer();
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
  let auth: AuthGate | undefined;
  let url: string;
  try {
    // Listen before building the app: the OAuth issuer defaults to this node's URL, known only now.
    await listen(server, config.host, config.port);
    url = urlOf(config.host, (server.address() as AddressInfo).port);
    auth = await createAuth(config.oauth, { url, ...opened.store, onToken: (outcome) => metrics.token(outcome) });
  } catch (err) {
    server.close();
    await opened.close();
    throw err;
  }
  const guard = guardOf(auth);
  const limits = limitsOf(config);
  const mcp = mcpRoutes(opened.domain, { guard, limits, store: opened.store });
  let closing: Promise<void> | undefined;
  const app = createApp({
    nodeId: config.nodeId,
    log,
    maxBodyBytes: config.maxBodyBytes,
    readiness: opened.readiness,
    auth,
    jsonRpcPaths: [MCP_PATH],
    corsOrigins: config.corsOrigins,
    routes: [
      originCheck({ listenHost: config.host, publicOrigins: [config.oauth.issuer, config.oauth.resource].filter((o) => o !== undefined), corsOrigins: config.corsOrigins }),
      // While shutting down, new work is refused; Raft streams (upgrades, not requests) go on until Raft is left.
      (_ctx, next) => {
        if (closing) throw unavailable('node shutting down; retry on another node', 1);
        return next();
      },
      metricsRoute(metrics, metricsArePublic(config) ? (_ctx, next) => next() : guard('raftbox:read')),
      statusPageRoutes({ cluster: opened.cluster, load: opened.load, domain: opened.domain, guard, ...(auth?.browserSignIn ? { signIn: auth.browserSignIn } : {}) }),
      ...(opened.routes ?? []),
      restRoutes(opened.domain, { guard, limits }),
      mcp,
    ],
  });
  server.on('request', app.callback());
  server.on('upgrade', opened.raftStream);
  log.info({ url, oauth: auth !== undefined }, 'serving');
  return {
    url,
    port: (server.address() as AddressInfo).port,
    config,
    log,
    close: (opts) =>
      (closing ??= (async () => {
        // The HTTP server stays up until Raft is left (peers' messages arrive over it; a leader
        // hands off through it), but new work is refused from here on.
        await opened.close(opts);
        auth?.close();
        await mcp.close(); // open subscriptions/listen streams get their closing result
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Answers of the drained runs are being written; a long poll left waiting is cut after a moment.
        await Promise.race([stopped, delay(ANSWER_FLUSH_MS)]);
        server.closeAllConnections();
        await stopped;
        log.info('stopped');
      })()),
  };
}

// After the domain closed: how long answers still being written get before connections are cut.
const ANSWER_FLUSH_MS = 1_000;
// How often the leader looks for sessions past their TTL and state objects to collect.
const SWEEP_INTERVAL_MS = 5_000;
// Subjects whose quota use /metrics shows (the most recently active).
const METRIC_SUBJECTS = 100;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

function urlOf(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${h}:${port}`;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * The node's domain over its replicated state (`<dataDir>/state`), written through its Raft node
 * (`<dataDir>/raft`; with no peers a cluster of one). It resolves without waiting for a quorum: the
 * node must accept Raft streams for one to form. Until then writes and barrier reads answer 503.
 */
export async function openDomain(config: Config, log: Logger, metrics?: Metrics): Promise<OpenDomain> {
  const replicated = await openReplica({
    nodeId: config.nodeId,
    peers: config.peers,
    dataDir: config.dataDir,
    secret: config.clusterSecret,
    join: config.join,
    modules: [...domainModules(), oauthStateModule, cancelRequestsModule],
    cacheBytes: config.stateCacheMb << 20,
    raft: { snapshotBytes: config.raftLogMb << 20 },
    onError: (err) => log.fatal({ err }, 'raft stopped: its storage failed'),
    observer: {
      outgoingHeaders: requestIdHeaders,
      servingCall: peerCallLog(log),
      peerRefused: oncePerMinutePerPeer((peer, reason) => log.warn({ peer, reason }, 'a peer refused the raft stream (check --cluster-secret and --peers)')),
      ...(metrics ? { proposed: (s: number, ok: boolean) => metrics.proposed(s, ok), snapshot: (k: 'taken' | 'sent' | 'installed', b: number | null) => metrics.snapshot(k, b) } : {}),
    },
  });
  const { state, commandLog, raft, electionMs } = replicated;
  // After the data dir exists (opening the log makes it, or fails clearly); a package the sandbox
  // cannot serve stops the node here.
  let packages: PackageSet;
  try {
    packages = await PackageSet.load({ packages: config.packages, packagesDir: config.packagesDir ?? RAFTBOX_ROOT, storeDir: join(config.dataDir, 'bundles') });
  } catch (err) {
    await replicated.close();
    throw err;
  }
  const pool = new IsolatePool({ maxIsolates: config.maxConcurrent, packages });
  let egress: Egress;
  try {
    egress = new Egress({
      ...config.egress,
      timeoutMs: config.egress.timeoutSecs * 1000,
      maxRecordedBytes: config.maxRecordedBytes,
      // The cluster's own nodes are refused like private addresses, this one included.
      peers: [...Object.values(config.peers), urlOf(config.host, config.port)],
      ...(metrics ? { observer: metrics } : {}),
    });
  } catch (err) {
    pool.close();
    await replicated.close();
    throw err instanceof EgressRuleError ? new ConfigError(err.message) : err;
  }
  // Connects in the background: a node serves while an upstream is slow or down (calls connect on demand).
  const code = codeMode(config, log, metrics);
  // Isolates for the first runs, made while the node starts up rather than on their critical path.
  pool.prewarm(DEFAULT_MEMORY_MB, config.maxConcurrent).catch((err: unknown) => log.warn({ err }, 'prewarming isolates failed'));
  let domain;
  try {
    domain = await createDomain({
      state,
      log: commandLog,
      pool,
      logger: log,
      recover: false,
      packages,
      egress,
      ...(metrics ? { observer: metrics } : {}),
      extensions: code.extensions,
      options: {
        nodeId: config.nodeId,
        maxMemoryMb: config.maxMemoryMb,
        maxTimeoutSecs: config.maxTimeoutSecs,
        maxOutputBytes: config.maxOutputBytes,
        maxArtifactBytes: config.maxArtifactBytes,
        maxInputBytes: config.maxInputBytes,
        maxCodeBytes: config.maxBodyBytes,
        maxConcurrent: config.maxConcurrent,
        maxQueue: config.maxQueue,
        maxExecutions: config.maxExecutions,
        maxExecutionBytes: config.maxExecutionsMb * 1024 * 1024,
        liveSessions: { maxCount: warmSessionCount(config.maxLiveSessions, config.sessionsPerIsolate, log), maxMemoryMb: config.maxLiveSessionsMemoryMb ?? defaultWarmMemoryMb() },
        sessionStandbys: config.sessionStandbys,
        sessionsPerIsolate: config.sessionsPerIsolate,
        quotas: config.quota,
      },
    });
  } catch (err) {
    pool.close();
    await egress.close();
    await code.close();
    await replicated.close();
    throw err;
  }
  const opened = code.tools ? Object.assign(domain, { tools: code.tools }) : domain;
  const lostRuns = new LostRuns(raft, opened.executions, electionMs, log);
  const sweeper = new SessionSweeper(state, commandLog, {
    ttlMs: config.sessionTtlSecs * 1000,
    intervalMs: SWEEP_INTERVAL_MS,
    isLeader: () => raft.status().role === 'leader',
    onError: (err) => log.debug({ err }, 'session sweep not done yet'),
  });
  metrics?.gauges({
    raft: () => raft.status(),
    pool: () => pool.stats(),
    admission: () => opened.executions.load,
    liveSessions: () => opened.sessions.warmCount,
    collectQueue: () => queuedReleases(state, SESSION_MODULE),
    usage: () => opened.quotas.activeSubjects(METRIC_SUBJECTS).map((s) => opened.quotas.usage(s)),
    upstreams: () => code.tools?.status() ?? [],
  });
  const statusExtra = () => ({ packages: packages.list(), ...(code.tools ? { upstreams: code.tools.status() } : {}) });
  let closing = false;
  return {
    domain: opened,
    store: { state, log: commandLog },
    readiness: () => (closing ? { ready: false, reason: 'shutting down' } : clusterReadiness(raft)),
    raftStream: (req, socket, head) => raft.accept(req, socket, head),
    routes: [clusterRoutes(raft, { electionMs, secret: config.clusterSecret, extra: statusExtra, digest: () => state.digest() })],
    cluster: () => ({ ...clusterStatus(raft, electionMs), ...statusExtra() }),
    load: () => opened.executions.load,
    async close(opts = {}) {
      closing = true;
      lostRuns.stop();
      sweeper.stop();
      await opened.drain(config.shutdownGraceSecs * 1000);
      await opened.close();
      if (opts.handOff !== false) await handOffLeadership(raft, 4 * electionMs, log);
      await replicated.close(); // stops Raft, then closes LevelDB (its writes are synced batches)
      pool.close();
      await egress.close();
      await code.close();
    },
  };
}

/**
 * A leader that leaves hands leadership to the most caught-up voter first, so the cluster does not sit
 * an election timeout without a leader. Best effort: a failed transfer only costs that election.
 */
async function handOffLeadership(raft: RaftNode, timeoutMs: number, log: Logger): Promise<void> {
  const s = raft.status();
  if (s.role !== 'leader' || s.voters.length < 2) return;
  try {
    await raft.transferLeadership(undefined, { timeoutMs });
    log.info({ to: raft.status().leader?.id ?? null }, 'handed off leadership');
  } catch (err) {
    log.warn({ reason: (err as Error).message }, 'leadership hand-off failed; the others elect a leader after a timeout');
  }
}

/** A setup error repeats on every redial: say it once a minute per peer, not a hundred times. */
function oncePerMinutePerPeer(say: (peer: string, reason: string) => void): (peer: string, reason: string) => void {
  const saidAt = new Map<string, number>();
  return (peer, reason) => {
    const now = Date.now();
    if (now - (saidAt.get(peer) ?? -Infinity) < 60_000) return;
    saidAt.set(peer, now);
    say(peer, reason);
  };
}

/** `--max-live-sessions`, capped where the kernel's map limit would abort the process first (live-sessions.ts). */
function warmSessionCount(configured: number, sessionsPerIsolate: number, log: Logger): number {
  const limit = warmCountLimit(configured, sessionsPerIsolate);
  if (limit < configured) log.info({ configured, limit }, `warm sessions capped at ${limit} by vm.max_map_count (each isolate holds ~14 memory maps); raise it with sysctl vm.max_map_count, or share isolates (--sessions-per-isolate), to hold more`);
  return limit;
}
