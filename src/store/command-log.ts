import type { Command, Json, Proposer } from './types.ts';

const encoder = new TextEncoder();

/** How the domain writes: a command is answered only after it is committed and applied on this node. */
export class CommandLog {
  private readonly proposer: Proposer;
  constructor(proposer: Proposer) {
    this.proposer = proposer;
  }

  async propose(cmd: Command): Promise<Json | undefined> {
    return (await this.proposer.propose(encoder.encode(JSON.stringify(cmd)))) as Json | undefined;
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
