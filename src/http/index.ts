export { createApp, SCRIPT_TYPES, type AppOptions } from './app.ts';
export { guardOf, principalOf, type AuthGate, type Guard, type Principal } from './guard.ts';
export type { Readiness } from './health.ts';
