export { createDomain, defaultDomainOptions, domainModules, type Domain, type DomainOptions } from './domain.ts';
export { ExecutionService, type ExecutionObserver, type ExecutionServiceOptions, type Logger } from './execution-service.ts';
export { executionModule, EXECUTION_MODULE } from './execution-state.ts';
export type { OutputWindow } from './output-pages.ts';
export { DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECS } from './run-request.ts';
export type { ArtifactRecord, Execution, ExecutionStatus, OutputPage, RunRequest } from './types.ts';
export { artifactOf } from './artifacts.ts';
