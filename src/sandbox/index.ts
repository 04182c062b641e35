export type { PackageRef } from './types.ts';
export { PackageSet, PackageUnavailableError, RAFTBOX_ROOT, type PackageSetOptions } from './packages/package-set.ts';
export { PackageRefusedError } from './packages/bundle.ts';
export type { Artifact, ConsoleLevel, ConsoleLine, Language, Limits, RunError, RunHooks, RunOutcome, RunStatus, Step, StepInputs } from './types.ts';
export { DEFAULT_MAX_ARTIFACT_BYTES } from './types.ts';
export { IsolatePool, type IsolatePoolOptions, type IsolatePoolStats } from './isolate-pool.ts';
export { LiveSession, SessionDisposedError, type ReplayOptions } from './live-session.ts';
export { CompilerFailure } from './typescript-strip.ts';
export { newStepSeed } from './step-seed.ts';
