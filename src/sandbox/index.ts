export type { PackageRef } from './types.ts';
export { PackageSet, PackageUnavailableError, RAFTBOX_ROOT, type PackageSetOptions } from './packages/package-set.ts';
export { PackageRefusedError } from './packages/bundle.ts';
export type { ConsoleLevel, ConsoleLine, Language, Limits, RunError, RunOutcome, RunStatus, Step } from './types.ts';
export { IsolatePool, type IsolatePoolOptions, type IsolatePoolStats } from './isolate-pool.ts';
export { LiveSession, replayBudgetMs, SessionDisposedError, type ReplayOptions } from './live-session.ts';
export { CompilerFailure } from './typescript-strip.ts';
export { newStepSeed } from './step-seed.ts';
