import { notFound } from '../errors.ts';
import type { CommandLog, ReplicatedState } from '../store/index.ts';
import { EXECUTION_ID } from './execution-id.ts';
import { ACTIVE, bodyKey, EXECUTION_MODULE, idemKey, recordKey, splitBody, type ExecutionBody } from './execution-state.ts';
import type { Execution, ExecutionRecord } from './types.ts';

// setTimeout fires at once for longer delays; a wait that long just wakes up and waits again.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The one answer to "what is this execution's record now", on this node. A run this node owns is
 * answered from its own view until its final record is applied here (it is the freshest: the
 * replicated one trails it by a commit); every other record from the replicated state (`rec/<id>`,
 * its body cold on disk). Long-polls wait here for a record to change, whichever of the two changed it.
 */
export class ExecutionRecords {
  /** Records of this node's runs, until their final record is applied here. */
  private readonly local = new Map<string, ExecutionRecord>();
  private readonly waiters = new Map<string, Set<() => void>>();
  /**
   * Ids of replicated records still queued or running, kept from change notifications: the cluster
   * layer asks for their owners every election timeout, and a scan would walk every record.
   */
  private readonly activeIds = new Set<string>();
  private readonly unsubscribe: () => void;

  private readonly state: ReplicatedState;
  private readonly commandLog: CommandLog;
  private readonly onChanged: (id: string) => void;
  /** `onChanged` is told of every change to a record, after the waiters on it are woken. */
  constructor(state: ReplicatedState, log: CommandLog, onChanged: (id: string) => void) {
    this.state = state;
    this.commandLog = log;
    this.onChanged = onChanged;
    this.loadActive();
    this.unsubscribe = state.onChange((module, key) => {
      if (module !== EXECUTION_MODULE) return;
      if (key === null) {
        this.loadActive();
        for (const id of [...this.waiters.keys()]) this.changed(id);
      } else if (key.startsWith('rec/')) {
        this.changed(key.slice('rec/'.length));
      } else if (key.startsWith(ACTIVE)) {
        const id = key.slice(ACTIVE.length);
        if (state.get(EXECUTION_MODULE, key) === undefined) this.activeIds.delete(id);
        else this.activeIds.add(id);
      }
    });
  }

  /** The record as this node knows it now (no read barrier). */
  current(id: string): ExecutionRecord | undefined {
    return this.local.get(id) ?? this.replicated(id);
  }

  /** The record, if it exists and belongs to `subject`; a record made elsewhere may need this node to catch up first. */
  async find(id: string, subject: string | null | undefined): Promise<ExecutionRecord> {
    if (typeof id !== 'string' || !EXECUTION_ID.test(id)) throw notFound(`execution ${id} not found`);
    // Unless this node runs it (its own view is the freshest), read the record as of now (ReadIndex):
    // a poll after a step served elsewhere sees it, and a node cut off from the quorum answers 503.
    if (!this.local.has(id)) await this.commandLog.linearizableRead();
    const record = this.current(id);
    if (!record || record.subject !== (subject ?? null)) throw notFound(`execution ${id} not found`);
    return record;
  }

  /** The whole record: a large one's body is read from disk (it is not kept in memory). */
  async whole(record: ExecutionRecord): Promise<ExecutionRecord> {
    if (!record.bodyOmitted) return record;
    const body = (await this.state.getCold(EXECUTION_MODULE, bodyKey(record.id))) as unknown as ExecutionBody | undefined;
    // Pruned between the lookup and this read: the summary is all there is.
    if (!body) return record;
    const { bodyOmitted: _, ...whole } = record;
    return { ...whole, ...body };
  }

  /** The execution that holds an idempotency key, as of now (ReadIndex). The execution module's `claim` is what gives keys out. */
  async keyHolder(subject: string | null, key: string): Promise<string | undefined> {
    await this.commandLog.linearizableRead();
    return this.state.get(EXECUTION_MODULE, idemKey(subject, key)) as string | undefined;
  }

  /** Every record this node knows, its own runs' views in place of their replicated ones (for list pages). */
  all(): ExecutionRecord[] {
    const records = new Map<string, ExecutionRecord>();
    for (const [, value] of this.state.scan(EXECUTION_MODULE, 'rec/')) records.set((value as unknown as ExecutionRecord).id, value as unknown as ExecutionRecord);
    for (const record of this.local.values()) records.set(record.id, record);
    return [...records.values()];
  }

  /** Replicated records still queued or running, on any node. */
  active(): ExecutionRecord[] {
    const records: ExecutionRecord[] = [];
    for (const id of this.activeIds) {
      const record = this.replicated(id);
      if (record) records.push(record);
    }
    return records;
  }

  /** Whether someone asked (on any node) to cancel the execution: only the replicated record says so. */
  cancelRequested(id: string): boolean {
    return this.replicated(id)?.cancelRequested === true;
  }

  /** This node's run moved on: its view is the answer until `forget`. */
  update(record: ExecutionRecord): void {
    this.local.set(record.id, record);
    this.changed(record.id);
  }

  /** This node's run is over and its final record applied here (or never to be): the replicated state answers. */
  forget(id: string): void {
    this.local.delete(id);
  }

  /** Resolves when the record changes, or after `ms`. */
  nextChange(id: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        const set = this.waiters.get(id);
        set?.delete(wake);
        if (set?.size === 0) this.waiters.delete(id);
        resolve();
      }, Math.min(ms, MAX_TIMER_MS));
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add(wake);
    });
  }

  close(): void {
    this.unsubscribe();
  }

  private replicated(id: string): ExecutionRecord | undefined {
    return this.state.get(EXECUTION_MODULE, recordKey(id)) as unknown as ExecutionRecord | undefined;
  }

  private changed(id: string): void {
    this.onChanged(id);
    const waiting = this.waiters.get(id);
    if (!waiting) return;
    this.waiters.delete(id);
    for (const wake of waiting) wake();
  }

  private loadActive(): void {
    this.activeIds.clear();
    for (const [key] of this.state.scan(EXECUTION_MODULE, ACTIVE)) this.activeIds.add(key.slice(ACTIVE.length));
  }
}

/** An execution as callers see it: the record without what only the cluster needs (owner subject, boot, key). */
export function view(r: ExecutionRecord): Execution {
  return {
    id: r.id,
    status: r.status,
    result: r.result,
    resultText: r.resultText,
    console: r.console,
    consoleTruncated: r.consoleTruncated,
    error: r.error,
    session: r.session,
    step: r.step,
    heap: r.heap,
    tags: r.tags,
    node: r.node,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: r.durationMs,
    ...(r.bodyOmitted ? { bodyOmitted: true as const } : {}),
  };
}

/** An execution as a list page shows it: large bodies are fetched with `get`, not listed. */
export const listItem = (r: ExecutionRecord): Execution => view(splitBody(r).summary);
