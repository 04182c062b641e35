export { SessionService, pageLimit } from './session-service.ts';
export type { JournalStep, SessionInfo, SessionObserver, SessionServiceOptions } from './session-service.ts';
export type { SessionStep, StepRequest, StepRun } from './session-step.ts';
export { defaultWarmMemoryMb } from './live-sessions.ts';
export type { LiveSessionsOptions } from './live-sessions.ts';
export { refuseStep, sessionModule, SESSION_MODULE, writeStep } from './session-state.ts';
export type { Language, StepCommand, StepVerdict } from './session-state.ts';
