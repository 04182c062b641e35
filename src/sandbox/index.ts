export type { ConsoleLevel, ConsoleLine, Language, Limits, RunError, RunOutcome, RunStatus, Step } from './types.ts';
export { IsolatePool, type IsolatePoolOptions, type IsolatePoolStats } from './isolate-pool.ts';
export { LiveSession, SessionDisposedError, type ReplayOptions } from './live-session.ts';
export { newStepSeed } from './step-seed.ts';
