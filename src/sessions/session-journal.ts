import { stepInputs } from './journal-inputs.ts';
import type { ReplicatedState } from '../store/index.ts';
import type { HostCallRecord, Step } from '../sandbox/index.ts';
import { SESSION_MODULE, hostCallsKey, stateKey, nameKey, namePrefix, type StateObject, type SessionHead } from './session-state.ts';

/**
 * Reads of the session namespace in this node's applied state: heads (in memory), state objects
 * and their chains (cold: on disk, through the state's bounded cache).
 */
export class SessionJournal {
  private readonly state: ReplicatedState;
  constructor(state: ReplicatedState) {
    this.state = state;
  }

  session(subject: string | null | undefined, name: string): SessionHead | undefined {
    return this.state.get(SESSION_MODULE, nameKey(subject, name)) as SessionHead | undefined;
  }

  sessions(subject: string | null | undefined): SessionHead[] {
    return this.state.scan(SESSION_MODULE, namePrefix(subject)).map(([, v]) => v as SessionHead);
  }

  /** A state object, if it exists and belongs to `subject` (someone else's is as absent as a missing one). */
  async stateObject(id: string, subject: string | null | undefined): Promise<StateObject | undefined> {
    const object = await this.object(id);
    return object && object.subject === (subject ?? null) ? object : undefined;
  }

  /**
   * The steps that lead from state `from` to state `to`, oldest first, or null when `from` is not an
   * ancestor of `to` (then only a rebuild from the root gets there). `from` null means the empty state.
   * A step that made host calls comes with their recorded answers, read from disk (they are cold).
   */
  async stepsBetween(from: string | null, to: string | null): Promise<Step[] | null> {
    const objects: Array<[string, StateObject]> = [];
    for (let at = to; at !== from; ) {
      if (at === null) return null;
      const object = await this.object(at);
      if (!object) throw new Error(`session state ${at} is missing from the journal`);
      objects.push([at, object]);
      at = object.parent;
    }
    return Promise.all(
      objects.reverse().map(async ([id, object]) => {
        const step: Step = {
          code: object.code,
          language: object.language,
          seed: object.seed,
          clock: object.clock,
          ...(object.packages ? { packages: object.packages } : {}),
          ...(object.cpuMs !== undefined ? { cpuMs: object.cpuMs } : {}),
          ...(object.oneTask === true ? { oneTask: true as const } : {}),
          ...(object.inputs ? { inputs: stepInputs(object.inputs) } : {}),
        };
        if (!object.hostCalls) return step;
        const records = (await this.state.getCold(SESSION_MODULE, hostCallsKey(id))) as HostCallRecord[] | undefined;
        if (records === undefined) throw new Error(`the recorded answers of session state ${id} are missing from the journal`);
        return { ...step, hostCalls: records };
      }),
    );
  }

  /**
   * The state objects of steps `after + 1 .. after + limit` of the chain ending at `head`, oldest
   * first, with their ids. Walks back from the head holding only that page.
   */
  async chainPage(head: string, after: number, limit: number): Promise<Array<StateObject & { id: string }>> {
    const out: Array<StateObject & { id: string }> = [];
    for (let at: string | null = head; at !== null; ) {
      const object = await this.object(at);
      if (!object) throw new Error(`session state ${at} is missing from the journal`);
      if (object.step <= after) break;
      if (object.step <= after + limit) out.push({ ...object, id: at });
      at = object.parent;
    }
    return out.reverse();
  }

  private async object(id: string): Promise<StateObject | undefined> {
    return (await this.state.getCold(SESSION_MODULE, stateKey(id))) as StateObject | undefined;
  }
}
