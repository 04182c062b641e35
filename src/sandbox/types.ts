import type { HostCallRecord } from './host-calls/types.ts';
import type { PackageRef } from './packages/bundle.ts';

export type { HostCallRecord, PackageRef };

export type Language = 'js' | 'ts';

export interface Limits {
  memoryMb: number;
  cpuTimeoutMs: number;
  wallTimeoutMs: number;
  maxOutputBytes: number;
  /** Bytes of artifacts one run may attach (default DEFAULT_MAX_ARTIFACT_BYTES). */
  maxArtifactBytes?: number;
}

export const DEFAULT_MAX_ARTIFACT_BYTES = 16 << 20;

/** A file a run attached (`artifact(...)`, or a completion value that is a Blob / `{ mimeType, data }`). */
export interface Artifact {
  name: string;
  mimeType: string;
  data: Uint8Array;
}

/** Data a step's request handed in, visible to its code as `inputs` (recorded with the step, replayed alike). */
export interface StepInputs {
  /** Named JSON values. */
  values?: Record<string, unknown>;
  /** Named files; a name may not also be a value's. */
  files?: Record<string, { mimeType: string; data: Uint8Array }>;
}

/** What a caller may watch of a live run while it runs. */
export interface RunHooks {
  /**
   * Each console line as it is made (the same lines, in order, as the outcome's `console`);
   * `truncationMark`: the line that says the output cap was reached, after which none come.
   */
  onConsole?(line: ConsoleLine, truncationMark: boolean): void;
  /**
   * A session's isolate is being rebuilt before the run: told the number of journal steps it replays
   * before the replay, and 0 once it is over (what a progress message says meanwhile).
   */
  onReplay?(steps: number): void;
}

/** One unit of user code. `seed` and `clock` (epoch ms) are the only sources of non-determinism. */
export interface Step {
  code: string;
  language: Language;
  seed: string;
  clock: number;
  /** On replay: the bundles its imports resolved to when it ran (from the journal). */
  packages?: PackageRef[];
  inputs?: StepInputs;
  /** On replay: the answers its host calls received when it ran (from the journal). */
  hostCalls?: HostCallRecord[];
  /** On replay: the CPU the step used when it ran (from the journal; absent in journals from before it was recorded). */
  cpuMs?: number;
  /** On replay: the step ran live in one task, never waiting on the host (from the journal; see RunOutcome.oneTask). */
  oneTask?: true;
}

export type RunStatus = 'completed' | 'failed' | 'timeout' | 'memory_limit' | 'cancelled';

export type ConsoleLevel = 'log' | 'info' | 'warn' | 'error' | 'debug';

export interface ConsoleLine {
  level: ConsoleLevel;
  text: string;
}

export interface RunError {
  name: string;
  message: string;
  stack: string | null;
  line: number | null;
  column: number | null;
}

export interface RunOutcome {
  status: RunStatus;
  result: unknown;
  resultText: string | null;
  console: ConsoleLine[];
  consoleTruncated: boolean;
  error: RunError | null;
  cpuMs: number;
  wallMs: number;
  /** What the run attached, in order (absent when nothing); a run stopped by a limit keeps what it attached before. */
  artifacts?: Artifact[];
  /** The bundles the step's imports resolved to (absent when it named no module). */
  packages?: PackageRef[];
  /** The answers its host calls received, in delivery order (absent when it made none). */
  hostCalls?: HostCallRecord[];
  /**
   * The step ran to its end in the task that started it: no timer, host call or other wait on the
   * host. Its replay does the same, so it may be made synchronously (step-runner.ts `replayOnThisThread`).
   */
  oneTask?: true;
}
