import type { Command, Json, ProposalOptions, Proposer } from './types.ts';

const encoder = new TextEncoder();

/** How the domain writes: a command is answered only after it is committed and applied on this node. */
export class CommandLog {
  private readonly proposer: Proposer;
  constructor(proposer: Proposer) {
    this.proposer = proposer;
  }

  /** `opts.idempotent`: applying `cmd` twice changes nothing more than once (ProposalOptions). */
  async propose(cmd: Command, opts: ProposalOptions = {}): Promise<Json | undefined> {
    return (await this.proposer.propose(encoder.encode(JSON.stringify(cmd)), opts)) as Json | undefined;
  }

  /** Reads of the state after this see every command committed anywhere before the call. */
  linearizableRead(): Promise<void> {
    return this.proposer.linearizableRead();
  }

  /** Reads of the state after this see every command this node knows committed (not linearizable: re-check on write). */
  localRead(): Promise<void> {
    return this.proposer.localRead();
  }
}
