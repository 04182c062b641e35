import type { Proposer } from './types.ts';
import type { ReplicatedState } from './replicated-state.ts';

/**
 * TEMPORARY: applies commands straight to the state, in order, until the product is wired onto a
 * single-node RaftNode (then this file is deleted). Do not build features on its behaviour.
 */
export class LocalProposer implements Proposer {
  private tail: Promise<unknown> = Promise.resolve();
  private index: number;

  constructor(private readonly state: ReplicatedState) {
    this.index = state.appliedIndex();
  }

  propose(data: Uint8Array): Promise<unknown> {
    const run = this.tail.then(async () => (await this.state.apply([{ index: ++this.index, term: 1, data }]))[0]);
    this.tail = run.catch(() => undefined);
    return run;
  }

  readIndex(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
