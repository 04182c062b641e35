import type { Egress } from '../egress/index.ts';
import { DEFAULT_MAX_ARTIFACT_BYTES, type IsolatePool, type PackageSet } from '../sandbox/index.ts';
import { SessionService, sessionModule, type LiveSessionsOptions, type SessionObserver, type StandbyMode } from '../sessions/index.ts';
import type { CommandLog, ReplicatedState, StateModule } from '../store/index.ts';
import { executionModule, heldByRecords } from './execution-state.ts';
import type { SubjectQuotas } from './quotas.ts';
import { ExecutionService, type ExecutionObserver, type ExecutionServiceOptions, type Logger, type RunExtensions } from './execution-service.ts';

export interface DomainOptions extends ExecutionServiceOptions {
  liveSessions: LiveSessionsOptions;
  /** Which sessions this node keeps warm as other nodes step them (SessionService.followHead). */
  sessionStandbys?: StandbyMode;
  /** Sessions of one subject whose contexts share an isolate (SessionServiceOptions.sessionsPerIsolate). */
  sessionsPerIsolate?: number;
}

export const defaultDomainOptions: DomainOptions = {
  nodeId: 'n1',
  maxMemoryMb: 512,
  maxTimeoutSecs: 300,
  maxOutputBytes: 1 << 20,
  maxArtifactBytes: DEFAULT_MAX_ARTIFACT_BYTES,
  maxInputBytes: 8 << 20,
  maxCodeBytes: 1 << 20,
  maxConcurrent: 16,
  maxQueue: 256,
  maxExecutions: 10_000,
  liveSessions: { maxCount: 256, maxMemoryMb: 4096 },
};

/** The state modules of sessions and executions, to register when opening the ReplicatedState. */
export function domainModules(): StateModule[] {
  return [sessionModule(heldByRecords), executionModule];
}

export interface Domain {
  executions: ExecutionService;
  sessions: SessionService;
  quotas: SubjectQuotas;
  packages?: PackageSet;
  /** Graceful shutdown: no new runs; this node's runs get `graceMs` to finish, then fail as "node shutting down". */
  drain(graceMs: number): Promise<void>;
  /** Cancels this node's runs, disposes warm isolates. Call before closing the command log. */
  close(): Promise<void>;
}

/**
 * Builds the domain services over a state opened with `domainModules()`, and fails this node's
 * executions left unfinished by an earlier run (so it resolves once the log accepts proposals).
 * `recover: false` leaves that to the caller: a cluster node must serve Raft before a quorum exists,
 * so it runs `executions.recover()` in the background until it succeeds.
 */
export async function createDomain(deps: {
  state: ReplicatedState;
  log: CommandLog;
  pool: IsolatePool;
  options?: Partial<DomainOptions>;
  logger?: Logger;
  recover?: boolean;
  /** The node's metrics (counts runs, rejections, replays). */
  observer?: ExecutionObserver & SessionObserver;
  /** What the sandboxes may import (the pool's own set; sessions use it too). */
  packages?: PackageSet;
  /** Performs the sandbox's `fetch` under the operator's egress rules (default: every fetch fails). */
  egress?: Egress;
  /** Host calls and the type check of runs (code mode). */
  extensions?: RunExtensions;
}): Promise<Domain> {
  const options = { ...defaultDomainOptions, ...deps.options };
  const sessions = new SessionService(deps.state, deps.log, {
    liveSessions: options.liveSessions,
    ...(options.sessionStandbys ? { standbys: options.sessionStandbys } : {}),
    ...(options.sessionsPerIsolate ? { sessionsPerIsolate: options.sessionsPerIsolate } : {}),
    maxMemoryMb: options.maxMemoryMb,
    ...(deps.observer ? { observer: deps.observer } : {}),
    ...(deps.packages ? { packages: deps.packages } : {}),
    ...(options.maxArtifactBytes === undefined ? {} : { maxArtifactBytes: options.maxArtifactBytes }),
    nodeId: options.nodeId,
  });
  const executions = new ExecutionService(deps.state, deps.log, deps.pool, sessions, options, deps.logger, deps.observer, deps.egress, deps.extensions);
  if (deps.recover ?? true) await executions.recover();
  return {
    executions,
    sessions,
    quotas: executions.quotas,
    ...(deps.packages ? { packages: deps.packages } : {}),
    drain: (graceMs) => executions.drain(graceMs),
    async close() {
      await executions.close();
      sessions.close();
    },
  };
}
