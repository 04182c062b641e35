import type { Execution, ExecutionStatus, OutputPage, OutputWindow, RunRequest } from '../executions/index.ts';
import type { JournalStep, SessionInfo } from '../sessions/index.ts';

export type { Execution, ExecutionStatus, OutputPage, RunRequest, JournalStep, SessionInfo };
// From the executions module's types file (no runtime dependencies), not its index: the edges stay testable without a sandbox.
export { FINISHED } from '../executions/types.ts';

/**
 * What the edges (REST and MCP) call: the methods of ExecutionService and SessionService they use,
 * as a structural type so that tests of the edges can pass a stand-in.
 */
export interface Executions {
  run(req: RunRequest, opts: { waitMs: number; signal?: AbortSignal }): Promise<Execution>;
  get(id: string, opts: { waitMs?: number; subject?: string }): Promise<Execution>;
  output(id: string, opts: OutputWindow & { subject?: string; waitMs?: number }): Promise<OutputPage>;
  cancel(id: string, subject?: string): Promise<Execution>;
  list(q: {
    status?: ExecutionStatus;
    session?: string;
    tag?: string;
    cursor?: string;
    limit?: number;
    subject?: string;
  }): Promise<{ executions: Execution[]; nextCursor: string | null }>;
}

export interface Sessions {
  list(q: { cursor?: string; limit?: number; subject?: string }): Promise<{ sessions: SessionInfo[]; nextCursor: string | null }>;
  get(
    name: string,
    q: { stepsCursor?: string; stepsLimit?: number; subject?: string },
  ): Promise<SessionInfo & { journal: JournalStep[]; nextStepsCursor: string | null }>;
  delete(name: string, subject?: string): Promise<void>;
}

/** The modules sandboxes may import on this node. */
export interface Packages {
  list(): { packages: PackageEntry[]; builtins: PackageEntry[] };
}

export interface PackageEntry {
  name: string;
  version: string;
  hash: string;
}

/** A subject's use of its quotas (limits 0: none). */
export interface Quotas {
  usage(subject: string | null): {
    subject: string | null;
    liveSessions: number;
    storedBytes: number;
    concurrentRuns: number;
    cpuSecsLastMinute: number;
    limits: { liveSessions: number; stepsPerSession: number; storedMb: number; concurrentRuns: number; cpuSecsPerMinute: number };
  };
}

/** Who asks, as the upstream servers' allow rules see it. */
export interface ToolCaller {
  subject: string | null;
  scopes: readonly string[];
}

/** The upstream MCP servers' tools as code mode offers them (src/upstream): declarations for the model. */
export interface ToolCatalog {
  readonly names: string[];
  /** The servers this caller may use. */
  usable(caller: ToolCaller): string[];
  /** The shared prelude and every tool's declarations, of one server or all the caller may use. */
  declarations(caller: ToolCaller, server?: string): Promise<string>;
  search(caller: ToolCaller, query: string | undefined, server: string | undefined): Promise<{ matches: Array<{ server: string; tool: string }>; declarations: string; more: boolean }>;
}

/** The domain as the edges (REST, MCP, the status page) see it: a subset of the executions module's `Domain`. */
export interface EdgeDomain {
  executions: Executions;
  sessions: Sessions;
  /** Absent: the node's sandboxes import nothing. */
  packages?: Packages;
  /** Absent: no usage to report (a stand-in domain of a test). */
  quotas?: Quotas;
  /** Absent: no upstream MCP servers are configured. */
  tools?: ToolCatalog;
}
