export type { ChangeListener, ColdKey, Command, Json, ProposalOptions, Proposer, StateModule, Tx } from './types.ts';
export { ReplicatedState, UnknownCommandError, type StateOptions, type StateRestore } from './replicated-state.ts';
export { CommandLog } from './command-log.ts';
