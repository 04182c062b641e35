import type { HostCallRecord } from './host-calls/types.ts';
import type { PackageRef } from './packages/bundle.ts';

export type { HostCallRecord, PackageRef };

export type Language = 'js' | 'ts';

export interface Limits {
  memoryMb: number;
  cpuTimeoutMs: number;
  wallTimeoutMs: number;
  maxOutputBytes: number;
}

/** One unit of user code. `seed` and `clock` (epoch ms) are the only sources of non-determinism. */
export interface Step {
  code: string;
  language: Language;
  seed: string;
  clock: number;
  /** On replay: the bundles its imports resolved to when it ran (from the journal). */
  packages?: PackageRef[];
  /** On replay: the answers its host calls received when it ran (from the journal). */
  hostCalls?: HostCallRecord[];
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
  /** The bundles the step's imports resolved to (absent when it named no module). */
  packages?: PackageRef[];
  /** The answers its host calls received, in delivery order (absent when it made none). */
  hostCalls?: HostCallRecord[];
}
