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

  readBarrier(opts?: { local?: boolean }): Promise<void> {
    return this.proposer.readIndex(opts);
  }
}
