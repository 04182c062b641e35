export { UpstreamServers, type UpstreamCaller, type UpstreamCallOutcome, type UpstreamObserver, type UpstreamServersOptions, type ToolMatch } from './upstream-servers.ts';
export type { UpstreamState, UpstreamStatus } from './upstream-connection.ts';
export { PRELUDE } from './declarations.ts';
export { codeMode, type CodeMode } from './code-mode.ts';
