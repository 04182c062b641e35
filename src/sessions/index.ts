export { SessionService, pageLimit } from './session-service.ts';
export type { JournalStep, SessionInfo, SessionObserver, SessionServiceOptions, StepRequest, StepResult } from './session-service.ts';
export type { LiveSessionsOptions } from './live-sessions.ts';
export { sessionModule, SESSION_MODULE, nameKey as sessionNameKey, namePrefix as sessionNamePrefix, usageKey } from './session-state.ts';
export type { Language } from './session-state.ts';
export { SessionSweeper, type SweeperOptions } from './session-sweeper.ts';
export { GC_PREFIX } from './session-lifecycle.ts';
