export type { ChangeListener, Command, Json, Proposer, StateModule, Tx } from './types.ts';
export { ReplicatedState, UnknownCommandError } from './replicated-state.ts';
export { CommandLog } from './command-log.ts';
