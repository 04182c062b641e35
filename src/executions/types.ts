import type { ConsoleLine, RunError } from '../sandbox/index.ts';
import type { Json } from '../store/index.ts';

export interface RunRequest {
  code: string;
  language?: 'js' | 'ts'; // default 'ts' (a superset; types are stripped)
  session?: string; // continue a named session
  heap?: string; // fork from a state id
  memoryMb?: number; // over the server cap → invalidParams, never clamped
  timeoutSecs?: number;
  tags?: Record<string, string>;
  idempotencyKey?: string; // a retried request returns the first execution
  upgradePackages?: boolean; // in a session: import the newest approved versions instead of the pinned ones
  subject?: string; // OAuth subject that owns it (undefined = auth off)
  inputs?: Record<string, Json>; // named JSON values, `inputs.<name>` in the code
  files?: Record<string, { mimeType: string; data: Uint8Array }>; // named files, `inputs.<name>` as File
  scopes?: string[]; // the caller's token scopes (egress rules may name them); not recorded
  typecheck?: boolean; // check the code against the upstream tools' declarations before running it
}

export type ExecutionStatus = 'queued' | 'running' | 'completed' | 'failed' | 'timeout' | 'memory_limit' | 'cancelled';

export interface Execution {
  id: string;
  status: ExecutionStatus;
  result: Json;
  resultText: string | null;
  console: ConsoleLine[];
  consoleTruncated: boolean;
  error: RunError | null;
  session: string | null;
  step: number | null;
  heap: string | null;
  tags: Record<string, string>;
  node: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  /** Files the run attached, in order (absent: none). `data` (base64) is left out of list pages. */
  artifacts?: ArtifactRecord[];
  /** The code it ran, at most KEPT_CODE_BYTES of it (kept-code.ts); absent in records made before records kept code. */
  code?: string;
  /** UTF-8 size of the whole code: more than `code` holds when it was cut. */
  codeBytes?: number;
  /** In a list page: its console, result and error stack were left out for size (get the execution for them). */
  bodyOmitted?: true;
  /**
   * What an unfinished run is doing besides running its code (replaying a session's steps, waiting on
   * host calls), from the node running it only: not replicated, so other nodes never say it.
   */
  activity?: string;
}

/** An artifact as the record keeps it: replicated with the record (the bytes in its cold body). */
export interface ArtifactRecord {
  name: string;
  mimeType: string;
  size: number;
  /** The bytes, base64; absent where only the summary is read (list pages). */
  data?: string;
}

/** An execution as replicated: the public view plus who owns it and which run of which node made it. */
export interface ExecutionRecord extends Execution {
  subject: string | null;
  boot: string;
  idempotencyKey: string | null;
  /** With an idempotency key: what was asked, so a reuse of the key for another request is refused. */
  requestHash?: string;
  /** Someone asked to cancel it on another node; its owner aborts the run when it sees this. */
  cancelRequested?: boolean;
  /**
   * It ended through no fault of the caller's code (cancelled, node lost or restarted, a conflict,
   * shutdown, a rebuild to wait for, an internal error): it does not hold its idempotency key, so a
   * retry runs (see docs/sessions.md, "Idempotency keys").
   */
  interrupted?: boolean;
}

export interface OutputPage {
  data: string;
  totalLines: number;
  totalBytes: number;
  /** Where this page lies in both units (end exclusive), as MCP-V8 reports it. */
  startLine: number;
  endLine: number;
  startByte: number;
  endByte: number;
  /** Where the next page starts, in the unit that was asked for (null when there is no more). */
  nextLineOffset: number | null;
  nextByteOffset: number | null;
  hasMore: boolean;
}

export const FINISHED: ReadonlySet<ExecutionStatus> = new Set(['completed', 'failed', 'timeout', 'memory_limit', 'cancelled']);
