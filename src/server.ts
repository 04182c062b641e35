import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import pino, { type Logger } from 'pino';
import { clusterReadiness, clusterRoutes, LostRuns, openReplicatedLog } from './cluster/index.ts';
import type { Config } from './config/index.ts';
import type { Domain } from './api/domain.ts';
import type { Limits } from './api/operations.ts';
import { restRoutes } from './api/rest.ts';
import { createApp, guardOf, type AuthGate, type Readiness } from './http/index.ts';
import { mcpRoutes } from './mcp/index.ts';
import { createDomain, DEFAULT_MEMORY_MB, domainModules } from './executions/index.ts';
import { IsolatePool } from './sandbox/index.ts';
import type { CommandLog, ReplicatedState } from './store/index.ts';
import { createAuth, oauthStateModule } from './auth/index.ts';

/** A running node: where it listens, and how to stop it. */
export interface NodeHandle {
  readonly url: string;
  readonly port: number;
  readonly config: Config;
  readonly log: Logger;
  /** Stops accepting, lets in-flight requests finish, then closes the domain and its store. */
  close(): Promise<void>;
}

/** The domain of a node and what it holds open. */
export interface OpenDomain {
  domain: Domain;
  /** The replicated state and its write path, for the OAuth server's state. */
  store: { state: ReplicatedState; log: CommandLog };
  readiness(): Readiness;
  /** Node-to-node Raft RPC for `/raft/*`, served before auth and body parsing. */
  raft: (req: IncomingMessage, res: ServerResponse) => void;
  /** Routes of the cluster layer (`/cluster/*`), mounted before the product's. */
  routes?: Koa.Middleware[];
  close(): Promise<void>;
}

export interface NodeOptions {
  log?: Logger;
}

export function createLogger(config: Config, fd: 1 | 2 = 1): Logger {
  return pino({ level: config.logLevel, base: { node: config.nodeId } }, pino.destination({ fd, sync: false }));
}

export const limitsOf = (config: Config): Limits => ({ maxWaitMs: config.maxTimeoutSecs * 1000 + 60_000 });

/**
 * Starts one node: opens its domain, then serves REST, MCP and health on `config.host:config.port`.
 * The whole wiring of a node is here.
 */
export async function startNode(config: Config, opts: NodeOptions = {}): Promise<NodeHandle> {
  const log = opts.log ?? createLogger(config);
  const opened = await openDomain(config, log);
  const server = createServer();
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
  let auth: AuthGate | undefined;
  let url: string;
  try {
    // Listen before building the app: the OAuth issuer defaults to this node's URL, known only now.
    await listen(server, config.host, config.port);
    url = urlOf(config.host, (server.address() as AddressInfo).port);
    auth = await createAuth(config.oauth, { url, ...opened.store });
  } catch (err) {
    server.close();
    await opened.close();
    throw err;
  }
  const guard = guardOf(auth);
  const limits = limitsOf(config);
  const app = createApp({
    nodeId: config.nodeId,
    log,
    maxBodyBytes: config.maxBodyBytes,
    readiness: opened.readiness,
    auth,
    raft: opened.raft,
    routes: [...(opened.routes ?? []), restRoutes(opened.domain, { guard, limits }), mcpRoutes(opened.domain, { guard, limits })],
  });
  server.on('request', app.callback());
  log.info({ url, oauth: auth !== undefined }, 'serving');
  let closing: Promise<void> | undefined;
  return {
    url,
    port: (server.address() as AddressInfo).port,
    config,
    log,
    close: () =>
      (closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await stopped;
        auth?.close();
        await opened.close();
        log.info('stopped');
      })()),
  };
}

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
 * node must serve `/raft/*` for one to form. Until then writes and barrier reads answer 503.
 */
export async function openDomain(config: Config, log: Logger): Promise<OpenDomain> {
  const replicated = await openReplicatedLog({
    nodeId: config.nodeId,
    peers: config.peers,
    dataDir: config.dataDir,
    secret: config.clusterSecret,
    join: config.join,
    modules: [...domainModules(), oauthStateModule],
    onError: (err) => log.fatal({ err }, 'raft stopped: its storage failed'),
  });
  const { state, log: commandLog, raft, electionMs } = replicated;
  const pool = new IsolatePool({ maxIsolates: config.maxConcurrent });
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
      options: {
        nodeId: config.nodeId,
        maxMemoryMb: config.maxMemoryMb,
        maxTimeoutSecs: config.maxTimeoutSecs,
        maxOutputBytes: config.maxOutputBytes,
        maxCodeBytes: config.maxBodyBytes,
        maxConcurrent: config.maxConcurrent,
        maxQueue: config.maxQueue,
        maxExecutions: config.maxExecutions,
        liveSessions: { maxCount: config.maxLiveSessions, maxMemoryMb: config.maxLiveSessionsMemoryMb },
      },
    });
  } catch (err) {
    pool.close();
    await replicated.close();
    throw err;
  }
  const opened = domain;
  const lostRuns = new LostRuns(raft, opened.executions, electionMs, log);
  let closing = false;
  return {
    domain: opened,
    store: { state, log: commandLog },
    readiness: () => (closing ? { ready: false, reason: 'shutting down' } : clusterReadiness(raft)),
    raft: (req, res) => raft.handle(req, res),
    routes: [clusterRoutes(raft, { electionMs, secret: config.clusterSecret })],
    async close() {
      closing = true;
      lostRuns.stop();
      await opened.close();
      await replicated.close();
      pool.close();
    },
  };
}
