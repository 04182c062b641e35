import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino, { type Logger } from 'pino';
import type { Config } from './config/index.ts';
import type { Domain } from './api/domain.ts';
import type { Limits } from './api/operations.ts';
import { restRoutes } from './api/rest.ts';
import { createApp, guardOf, type AuthGate, type Readiness } from './http/index.ts';
import { mcpRoutes } from './mcp/index.ts';
import { createDomain, domainModules } from './executions/index.ts';
import { IsolatePool } from './sandbox/index.ts';
import { CommandLog, LocalProposer, ReplicatedState } from './store/index.ts';
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
  /** The replicated state and its write path, for the OAuth server's state (absent in edge tests). */
  store?: { state: ReplicatedState; log: CommandLog };
  readiness(): Readiness;
  close(): Promise<void>;
}

export interface NodeOptions {
  log?: Logger;
  /** Replaces the real domain (store, command log, services): for tests of the edges. */
  openDomain?: (config: Config, log: Logger) => Promise<OpenDomain>;
  /** Replaces the gate built from `config.oauth` (for tests). */
  auth?: AuthGate;
}

export function createLogger(config: Config, fd: 1 | 2 = 1): Logger {
  return pino({ level: config.logLevel, base: { node: config.nodeId } }, pino.destination({ fd, sync: false }));
}

export const limitsOf = (config: Config): Limits => ({ maxWaitMs: config.maxTimeoutSecs * 1000 + 60_000 });

/**
 * Starts one node: opens its domain, then serves REST, MCP and health on `config.host:config.port`.
 * The whole wiring of a node is here, so the Raft node replaces the temporary write path in one place.
 */
export async function startNode(config: Config, opts: NodeOptions = {}): Promise<NodeHandle> {
  const log = opts.log ?? createLogger(config);
  const opened = await (opts.openDomain ?? openDomain)(config, log);
  const server = createServer();
  server.keepAliveTimeout = 65_000; // longer than common load balancers' idle timeout
  let auth: AuthGate | undefined;
  let url: string;
  try {
    // Listen before building the app: the OAuth issuer defaults to this node's URL, known only now.
    await listen(server, config.host, config.port);
    url = urlOf(config.host, (server.address() as AddressInfo).port);
    auth = opts.auth ?? (opened.store ? await createAuth(config.oauth, { url, ...opened.store }) : undefined);
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
    routes: [restRoutes(opened.domain, { guard, limits }), mcpRoutes(opened.domain, { guard, limits })],
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
 * The node's domain over its LevelDB state in `<dataDir>/state`. The write path is the command log
 * over the TEMPORARY LocalProposer; the Raft node replaces it here and nowhere else.
 */
export async function openDomain(config: Config, log: Logger): Promise<OpenDomain> {
  const dir = join(config.dataDir, 'state');
  await mkdir(dir, { recursive: true });
  const state = await ReplicatedState.open(dir, [...domainModules(), oauthStateModule]);
  const pool = new IsolatePool({ maxIsolates: config.maxConcurrent });
  const commandLog = new CommandLog(new LocalProposer(state));
  let domain;
  try {
    domain = await createDomain({
      state,
      log: commandLog,
      pool,
      logger: log,
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
    await state.close();
    throw err;
  }
  const opened = domain;
  let closing = false;
  return {
    domain: opened,
    store: { state, log: commandLog },
    readiness: () => (closing ? { ready: false, reason: 'shutting down' } : { ready: true }),
    async close() {
      closing = true;
      await opened.close();
      await state.close();
      pool.close();
    },
  };
}
