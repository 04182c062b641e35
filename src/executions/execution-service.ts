import { createHash, randomUUID } from 'node:crypto';
import { conflict, invalidParams, notFound, unavailable, UserError } from '../errors.ts';
import { settlesWithin } from '../settles-within.ts';
import { CompilerFailure, newStepSeed, type HostCallPerformer, type IsolatePool, type RunError, type RunOutcome } from '../sandbox/index.ts';
import { pageLimit, type SessionService, type StepResult } from '../sessions/index.ts';
import type { Command, CommandLog, Json, ReplicatedState } from '../store/index.ts';
import { Admission, type Ticket } from './admission.ts';
import { EXECUTION_ID, newExecutionId } from './execution-id.ts';
import { ACTIVE, bodyChars, bodyKey, EXECUTION_MODULE, idemKey, recordKey, splitBody, type ExecutionBody, type RecordVerdict } from './execution-state.ts';
import { outputPage, type OutputWindow } from './output-pages.ts';
import { checkRunRequest, type CheckedRequest, type LimitsOptions } from './run-request.ts';
import { FINISHED, type Execution, type ExecutionRecord, type ExecutionStatus, type OutputPage, type RunRequest } from './types.ts';

export interface ExecutionServiceOptions extends LimitsOptions {
  nodeId: string;
  maxConcurrent: number;
  maxQueue: number;
  /** Finished records kept in the replicated state; older ones are pruned. */
  maxExecutions: number;
  /** Their total size as JSON at most (default 128 MiB); the oldest are pruned first. */
  maxExecutionBytes?: number;
}

/** What the node's metrics count; called once per event, so it must be cheap. */
export interface ExecutionObserver {
  executionFinished(status: ExecutionStatus, durationMs: number | null): void;
  admissionRejected(): void;
}

/** Who runs the code, as host calls' rules see it: the OAuth subject (null with auth off) and scopes. */
export interface Caller {
  subject: string | null;
  scopes: readonly string[];
}

/** What a run may do beyond computing; both absent on a node that offers neither. */
export interface RunExtensions {
  /** The performer of one run's host calls (`mcp.*`) for this caller. */
  hostCalls?: (caller: Caller) => HostCallPerformer;
  /** run_js's `typecheck`: the code's type errors against this caller's declarations, or null. */
  typeCheck?: (code: string, caller: Caller, session: boolean) => Promise<RunError | null>;
}

/** The part of a pino logger this service uses. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** An execution this node is running or has queued, until its finished record is applied here. */
interface LocalRun {
  record: ExecutionRecord;
  readonly controller: AbortController;
  readonly ticket: Ticket;
  done: Promise<void>;
  /** A caller's mistake found while running (a conflict, a vanished heap): thrown to a waiting caller. */
  error?: UserError;
  /** Another execution with the same idempotency key was committed first: that one is the answer. */
  answeredBy?: string;
  /** Its id has reached a caller (an async submit, an idempotency key, a wait that ran out): it must be recorded. */
  handedOut: boolean;
}

// setTimeout fires at once for longer delays; a wait that long just wakes up and waits again.
const MAX_TIMER_MS = 2 ** 31 - 1;

// How long cancel() waits for another node to stop an execution it owns before answering.
const REMOTE_CANCEL_WAIT_MS = 5_000;
/** First and longest wait before proposing a final record again while the cluster cannot commit. */
const FINAL_RETRY_MS = 100;
const MAX_FINAL_RETRY_MS = 2_000;

const DEFAULT_MAX_EXECUTION_BYTES = 128 << 20;

/** The abort reason of runs still going when a graceful shutdown's grace period ends. */
const SHUTTING_DOWN = 'node shutting down';

/**
 * Runs code under admission control and keeps execution records in the replicated state, so that
 * any node can answer for any execution (see docs/sessions.md for when each record is written).
 */
export class ExecutionService {
  /** Distinguishes this run of the node from earlier ones: their unfinished executions are lost. */
  readonly boot = randomUUID();
  private readonly admission: Admission;
  private readonly local = new Map<string, LocalRun>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly unsubscribe: () => void;
  /** Record proposals nobody waits for; close() lets them land before the log goes away. */
  private readonly pending = new Set<Promise<unknown>>();
  /**
   * Ids of replicated records still queued or running, kept from change notifications: the cluster
   * layer asks for their owners every election timeout, and a scan would walk every record.
   */
  private readonly active = new Set<string>();
  private draining = false;
  private closing = false;

  private readonly state: ReplicatedState;
  private readonly log: CommandLog;
  private readonly pool: IsolatePool;
  private readonly sessions: SessionService;
  private readonly options: ExecutionServiceOptions;
  private readonly logger?: Logger;
  private readonly observer?: ExecutionObserver;
  private readonly extensions: RunExtensions;
  constructor(
    state: ReplicatedState,
    log: CommandLog,
    pool: IsolatePool,
    sessions: SessionService,
    options: ExecutionServiceOptions,
    logger?: Logger,
    observer?: ExecutionObserver,
    extensions: RunExtensions = {},
  ) {
    this.extensions = extensions;
    this.state = state;
    this.log = log;
    this.pool = pool;
    this.sessions = sessions;
    this.options = options;
    this.logger = logger;
    this.observer = observer;
    this.admission = new Admission(options.maxConcurrent, options.maxQueue);
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
        if (state.get(EXECUTION_MODULE, key) === undefined) this.active.delete(id);
        else this.active.add(id);
      }
    });
  }

  get load(): { running: number; queued: number } {
    return { running: this.admission.running, queued: this.admission.queued };
  }

  async run(req: RunRequest, opts: { waitMs: number; signal?: AbortSignal }): Promise<Execution> {
    const r = checkRunRequest(req, this.options);
    checkWait(opts.waitMs);
    const answer = { waitMs: opts.waitMs, subject: r.subject };
    if (r.idempotencyKey !== null) {
      await this.log.linearizableRead();
      const first = this.state.get(EXECUTION_MODULE, idemKey(r.subject, r.idempotencyKey)) as string | undefined;
      if (first !== undefined) {
        const earlier = await this.get(this.sameRequest(first, r), answer);
        // One that was interrupted while this retry waited for it gives up its key: run again.
        if (!(FINISHED.has(earlier.status) && this.lookup(first)?.interrupted)) return earlier;
      }
    }
    if (r.session !== null || r.heap !== null) await this.sessions.check({ ...r, execution: null });

    if (this.draining) throw unavailable(`${SHUTTING_DOWN}; retry on another node`, 1);
    let ticket: Ticket;
    try {
      ticket = this.admission.admit();
    } catch (err) {
      this.observer?.admissionRejected();
      throw err;
    }
    const record = this.newRecord(r);
    // A run that may outlive this call, or that claims an idempotency key, is replicated before it
    // starts: the id handed out can then be polled on any node, and a retry finds the first run.
    const claimed = r.idempotencyKey !== null || opts.waitMs <= 0;
    if (claimed) {
      let verdict: RecordVerdict;
      try {
        verdict = (await this.log.propose({ type: 'execution.create', record: asJson(record) })) as RecordVerdict;
      } catch (err) {
        ticket.release();
        throw err;
      }
      if (!verdict.ok) {
        ticket.release();
        return this.get(this.sameRequest(verdict.existing, r), answer);
      }
    }
    const run = this.start(record, r, ticket, claimed);
    if (opts.waitMs <= 0) return view(run.record);

    // The caller waits for the answer: if it goes away first, the run is no longer wanted.
    const abandon = () => run.controller.abort();
    opts.signal?.addEventListener('abort', abandon, { once: true });
    try {
      if (await settlesWithin(run.done, opts.waitMs)) {
        if (run.error) throw run.error;
        return run.answeredBy ? this.get(run.answeredBy, answer) : view(run.record);
      }
    } finally {
      opts.signal?.removeEventListener('abort', abandon);
    }
    if (!claimed) {
      run.handedOut = true;
      await this.log.propose({ type: 'execution.create', record: asJson(run.record) });
    }
    return view(run.record);
  }

  async get(id: string, opts: { waitMs?: number; subject?: string | null } = {}): Promise<Execution> {
    const deadline = Date.now() + checkWait(opts.waitMs ?? 0);
    let record = await this.find(id, opts.subject);
    while (!FINISHED.has(record.status) && Date.now() < deadline) {
      await this.nextChange(id, deadline - Date.now());
      record = this.lookup(id) ?? record;
    }
    // The freshest view: the event loop may have been busy past the deadline while the run moved on.
    return view(await this.withBody(this.lookup(id) ?? record));
  }

  async output(id: string, opts: OutputWindow & { subject?: string | null } = {}): Promise<OutputPage> {
    return outputPage((await this.withBody(await this.find(id, opts.subject))).console, opts);
  }

  /** The whole record: a large one's body is read from disk (it is not kept in memory). */
  private async withBody(record: ExecutionRecord): Promise<ExecutionRecord> {
    if (!record.bodyOmitted) return record;
    const body = (await this.state.getCold(EXECUTION_MODULE, bodyKey(record.id))) as unknown as ExecutionBody | undefined;
    // Pruned between the lookup and this read: the summary is all there is.
    if (!body) return record;
    const { bodyOmitted: _, ...whole } = record;
    return { ...whole, ...body };
  }

  async cancel(id: string, subject?: string | null): Promise<Execution> {
    const record = await this.find(id, subject);
    if (FINISHED.has(record.status)) throw conflict(`execution ${id} has already finished (${record.status})`);
    const run = this.local.get(id);
    if (run) {
      run.controller.abort();
      await run.done;
      return view(run.record);
    }
    // Its owner aborts it when it sees the request in its applied state.
    await this.log.propose({ type: 'execution.cancel', id });
    return this.get(id, { waitMs: REMOTE_CANCEL_WAIT_MS, subject });
  }

  async list(
    opts: { status?: ExecutionStatus; session?: string; tag?: string; cursor?: string; limit?: number; subject?: string | null } = {},
  ): Promise<{ executions: Execution[]; nextCursor: string | null }> {
    // A cursor is the id of the last execution of the previous page; anything else (even '') would
    // silently answer an empty or wrong page.
    if (opts.cursor !== undefined && !EXECUTION_ID.test(opts.cursor)) throw invalidParams('cursor must be a next_cursor returned by an earlier page');
    await this.log.linearizableRead();
    const limit = pageLimit(opts.limit, 50, 500);
    const [tagName, tagValue] = splitTag(opts.tag);
    const records = new Map<string, ExecutionRecord>();
    for (const [, value] of this.state.scan(EXECUTION_MODULE, 'rec/')) records.set((value as unknown as ExecutionRecord).id, value as unknown as ExecutionRecord);
    for (const run of this.local.values()) records.set(run.record.id, run.record);
    const matching = [...records.values()]
      .filter(
        (e) =>
          e.subject === (opts.subject ?? null) &&
          (opts.cursor === undefined || e.id < opts.cursor) &&
          (opts.status === undefined || e.status === opts.status) &&
          (opts.session === undefined || e.session === opts.session) &&
          (tagName === undefined || (tagName in e.tags && (tagValue === undefined || e.tags[tagName] === tagValue))),
      )
      .sort((a, b) => (a.id < b.id ? 1 : -1));
    const page: Execution[] = [];
    let bytes = 0;
    for (const record of matching) {
      if (page.length === limit) break;
      const item = listItem(record);
      const size = approximateSize(item);
      if (page.length > 0 && bytes + size > LIST_PAGE_BYTES) break;
      page.push(item);
      bytes += size;
    }
    return { executions: page, nextCursor: matching.length > page.length ? page[page.length - 1]!.id : null };
  }

  /**
   * Fails this node's executions left queued or running by an earlier run of it (reason "node
   * restarted"). Call once at startup, when the command log accepts proposals.
   */
  async recover(): Promise<number> {
    await this.log.linearizableRead();
    const stale = this.activeRecords().some((r) => r.node === this.options.nodeId && r.boot !== this.boot);
    return stale ? this.failNode(this.options.nodeId, this.boot, 'node restarted') : 0;
  }

  /** Nodes that own queued or running executions in the applied state: the cluster layer watches these. */
  activeOwners(): Set<string> {
    return new Set(this.activeRecords().map((r) => r.node));
  }

  /** For the cluster layer: a node left for good, so its queued and running executions never finish. */
  nodeLost(nodeId: string): Promise<number> {
    return this.failNode(nodeId, null, 'node lost');
  }

  /**
   * Graceful shutdown: refuses new runs, gives this node's runs `graceMs` to finish, then stops the
   * rest, which end as failed with the reason "node shutting down" (never left running).
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    const settled = Promise.all([...this.local.values()].map((run) => run.done));
    if (!(await settlesWithin(settled, graceMs))) for (const run of this.local.values()) run.controller.abort(SHUTTING_DOWN);
    await settled;
  }

  /** Cancels this node's runs and waits for them to settle; call before closing the log. */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe();
    for (const run of this.local.values()) run.controller.abort();
    await Promise.all([...this.local.values()].map((run) => run.done));
    await Promise.all(this.pending);
  }

  private retention(): { keep: number; keepBytes: number } {
    return { keep: this.options.maxExecutions, keepBytes: this.options.maxExecutionBytes ?? DEFAULT_MAX_EXECUTION_BYTES };
  }

  /** Replicated records still queued or running, on any node. */
  private activeRecords(): ExecutionRecord[] {
    const records: ExecutionRecord[] = [];
    for (const id of this.active) {
      const record = this.state.get(EXECUTION_MODULE, recordKey(id));
      if (record) records.push(record as unknown as ExecutionRecord);
    }
    return records;
  }

  private loadActive(): void {
    this.active.clear();
    for (const [key] of this.state.scan(EXECUTION_MODULE, ACTIVE)) this.active.add(key.slice(ACTIVE.length));
  }

  private async failNode(node: string, exceptBoot: string | null, reason: string): Promise<number> {
    const cmd = { type: 'execution.fail', node, exceptBoot, reason, at: new Date().toISOString(), ...this.retention() };
    return ((await this.log.propose(cmd)) as { failed: number }).failed;
  }

  private newRecord(r: CheckedRequest): ExecutionRecord {
    return {
      id: newExecutionId(),
      status: 'queued',
      result: null,
      resultText: null,
      console: [],
      consoleTruncated: false,
      error: null,
      session: r.session,
      step: null,
      heap: r.heap,
      tags: r.tags,
      node: this.options.nodeId,
      createdAt: new Date().toISOString(),
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      subject: r.subject,
      boot: this.boot,
      idempotencyKey: r.idempotencyKey,
      ...(r.idempotencyKey === null ? {} : { requestHash: requestHash(r) }),
    };
  }

  /** The execution a retry is answered with, unless its key was first used for a different request. */
  private sameRequest(first: string, r: CheckedRequest): string {
    const hash = this.lookup(first)?.requestHash;
    if (hash !== undefined && hash !== requestHash(r)) {
      throw new UserError(422, 'idempotency_key_reused', `Idempotency-Key ${r.idempotencyKey} was already used for a different request (execution ${first})`);
    }
    return first;
  }

  private start(record: ExecutionRecord, r: CheckedRequest, ticket: Ticket, claimed: boolean): LocalRun {
    const run: LocalRun = { record, controller: new AbortController(), ticket, done: Promise.resolve(), handedOut: claimed };
    this.local.set(record.id, run);
    run.done = this.execute(run, r, claimed).finally(() => ticket.release());
    return run;
  }

  private async execute(run: LocalRun, r: CheckedRequest, claimed: boolean): Promise<void> {
    const { signal } = run.controller;
    if (!(await startsBeforeAbort(run.ticket, signal))) {
      run.ticket.release();
      return this.finish(run, { ...stopped('cancelled before it started'), status: 'cancelled', interrupted: true });
    }
    const startedAt = new Date().toISOString();
    this.update(run, { ...run.record, status: 'running', startedAt });
    if (claimed) this.background(this.log.propose({ type: 'execution.start', id: run.record.id, startedAt }));
    const t0 = performance.now();
    const caller: Caller = { subject: r.subject, scopes: r.scopes };
    try {
      const typeError = r.typecheck ? await this.typeErrors(r, caller) : null;
      if (typeError !== null) return this.finish(run, this.outcomeFields(notRun(typeError), t0));
      if (r.session === null && r.heap === null) {
        const step = { code: r.code, language: r.language, seed: newStepSeed(), clock: Date.now() };
        return this.finish(run, this.outcomeFields(await this.pool.run(step, r.limits, signal, this.extensions.hostCalls?.(caller)), t0));
      }
      let committed: ExecutionRecord | undefined;
      const step = await this.sessions.step({
        ...r,
        execution: run.record.id,
        signal,
        ran: () => run.ticket.release(),
        record: (s) => {
          committed = this.finished(run, s, t0);
          return { type: 'execution.finish', record: asJson(committed), ...this.retention() };
        },
      });
      // (A first execution already pruned by retention leaves only its place in the session to report.)
      if (step.duplicateOf !== null && this.lookup(step.duplicateOf)) run.answeredBy = step.duplicateOf;
      // A committed step carried its record in the same command; a stopped one is recorded alone.
      if (step.committed && step.duplicateOf === null) this.settle(run, committed!);
      else this.finish(run, this.finished(run, step, t0));
    } catch (caught) {
      // A cell the TypeScript compiler could not handle ran nothing: the caller's to fix, never committed.
      const err = caught instanceof CompilerFailure ? invalidParams(caught.message) : caught;
      if (err instanceof UserError) run.error = err;
      else this.logger?.error({ err, execution: run.record.id }, 'execution failed inside the server');
      const message = err instanceof UserError ? err.message : 'internal error';
      // A step whose commit was refused (503: no leader to take it) is answered with that refusal; if its
      // id never reached the caller, a `failed` record of it would only be a record no one can ask for.
      const refused = err instanceof UserError && err.status === 503 && !run.handedOut;
      this.finish(run, { ...stopped(message), status: 'failed', interrupted: true }, { replicate: !refused });
    }
  }

  /** A node without a checker still checks the syntax (and answers no type errors). */
  private async typeErrors(r: CheckedRequest, caller: Caller): Promise<RunError | null> {
    const check = this.extensions.typeCheck;
    if (check === undefined) return null;
    try {
      return await check(r.code, caller, r.session !== null || r.heap !== null);
    } catch (err) {
      throw unavailable(`typecheck: ${(err as Error).message}`, 1);
    }
  }

  /** The final record of a run; for a session step the step's place in the session. */
  private finished(run: LocalRun, step: StepResult, t0: number): ExecutionRecord {
    return { ...run.record, ...this.outcomeFields(step.outcome, t0), session: step.session, heap: step.heap, step: step.step };
  }

  private outcomeFields(o: RunOutcome, t0: number): Partial<ExecutionRecord> & { status: ExecutionStatus } {
    return {
      status: o.status,
      result: (o.result ?? null) as Json,
      resultText: o.resultText,
      console: o.console,
      consoleTruncated: o.consoleTruncated,
      error: o.error,
      finishedAt: new Date().toISOString(),
      // Microseconds: a warm run takes well under a millisecond, which whole milliseconds would hide.
      durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    };
  }

  /** Records a finished run that is not yet in the replicated state; the caller is answered without waiting for it. */
  private finish(run: LocalRun, fields: Partial<ExecutionRecord> & { status: ExecutionStatus }, opts: { replicate?: boolean } = {}): void {
    const shutdown = fields.status === 'cancelled' && run.controller.signal.reason === SHUTTING_DOWN;
    const ended = shutdown ? { ...fields, ...stopped(`${SHUTTING_DOWN}: stopped at the end of the shutdown grace period`), status: 'failed' as const } : fields;
    if (fields.status === 'cancelled') ended.interrupted = true;
    const record = { ...run.record, ...ended, finishedAt: fields.finishedAt ?? new Date().toISOString() };
    this.update(run, record);
    this.observer?.executionFinished(record.status, record.durationMs);
    if (opts.replicate === false) return this.forget(run);
    const cmd: Command = { type: 'execution.finish', record: asJson(record), ...this.retention() };
    this.background(this.replicateFinal(cmd, record.id).finally(() => this.forget(run)));
  }

  /**
   * A final record must reach the replicated state even when it is written during a leader change:
   * left `running` on a node that stays up, nothing would ever end it (LostRuns only ends the runs
   * of nodes that died), and every retry under its idempotency key would answer `running`. So it is
   * proposed again (finishing is idempotent: a record ends once) until it commits or this service
   * closes (then recover() on restart, or LostRuns elsewhere, ends it: no warning, a whole-cluster stop
   * meets this routinely).
   */
  private async replicateFinal(cmd: Command, id: string): Promise<void> {
    for (let delayMs = FINAL_RETRY_MS; ; delayMs = Math.min(2 * delayMs, MAX_FINAL_RETRY_MS)) {
      try {
        await this.log.propose(cmd);
        return;
      } catch (err) {
        if (!(err instanceof UserError) || err.status !== 503) throw err;
        if (this.closing) {
          // Routine when the whole cluster stops at once: nothing is lost, the next start ends the run.
          this.logger?.info({ execution: id }, 'final record not replicated before shutdown; recovered at the next start');
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }

  /** A finished run whose record is already applied here. */
  private settle(run: LocalRun, record: ExecutionRecord): void {
    this.update(run, record);
    this.observer?.executionFinished(record.status, record.durationMs);
    this.forget(run);
  }

  private update(run: LocalRun, record: ExecutionRecord): void {
    run.record = record;
    this.changed(record.id);
  }

  private forget(run: LocalRun): void {
    if (this.local.get(run.record.id) === run) this.local.delete(run.record.id);
  }

  private background(p: Promise<unknown>): void {
    const settled = p.catch((err: unknown) => this.logger?.warn({ err }, 'replicating an execution record failed'));
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
  }

  private lookup(id: string): ExecutionRecord | undefined {
    return this.local.get(id)?.record ?? (this.state.get(EXECUTION_MODULE, recordKey(id)) as unknown as ExecutionRecord | undefined);
  }

  /** The record, if it exists and belongs to `subject`; a record made elsewhere may need this node to catch up first. */
  private async find(id: string, subject: string | null | undefined): Promise<ExecutionRecord> {
    if (typeof id !== 'string' || !EXECUTION_ID.test(id)) throw notFound(`execution ${id} not found`);
    // Unless this node runs it (its own view is the freshest), read the record as of now (ReadIndex):
    // a poll after a step served elsewhere sees it, and a node cut off from the quorum answers 503.
    if (!this.local.has(id)) await this.log.linearizableRead();
    const record = this.lookup(id);
    if (!record || record.subject !== (subject ?? null)) throw notFound(`execution ${id} not found`);
    return record;
  }

  private changed(id: string): void {
    const run = this.local.get(id);
    // A cancel asked for on another node reaches the owner through the replicated record.
    if (run && (this.state.get(EXECUTION_MODULE, recordKey(id)) as { cancelRequested?: boolean } | undefined)?.cancelRequested) {
      run.controller.abort();
    }
    const waiting = this.waiters.get(id);
    if (!waiting) return;
    this.waiters.delete(id);
    for (const wake of waiting) wake();
  }

  private nextChange(id: string, ms: number): Promise<void> {
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
}

function view(r: ExecutionRecord): Execution {
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

// A list page holds at most about this much, whatever its `limit` (the last item may pass it).
const LIST_PAGE_BYTES = 1 << 20;
// What an item holds besides its body (ids, times, node…), for the page's size.
const ITEM_OVERHEAD_CHARS = 512;

/** An execution as a list page shows it: large bodies are fetched with `get`, not listed. */
const listItem = (r: ExecutionRecord): Execution => view(splitBody(r).summary);

/** A bound on the item's size in its answer: its body (UTF-8 takes up to 3 bytes a character) and the rest. */
function approximateSize(e: Execution): number {
  let tags = 0;
  for (const [k, v] of Object.entries(e.tags)) tags += k.length + v.length + 8;
  return 3 * (bodyChars(e) + tags + (e.session?.length ?? 0)) + ITEM_OVERHEAD_CHARS;
}

/** A run refused before it started (type errors): failed, with nothing run. */
function notRun(error: RunError): RunOutcome {
  return { status: 'failed', result: null, resultText: null, console: [], consoleTruncated: false, error, cpuMs: 0, wallMs: 0 };
}

function stopped(message: string): Partial<ExecutionRecord> {
  return { error: { name: 'ExecutionError', message, stack: null, line: null, column: null } };
}

// Records are plain JSON data; the sandbox's interfaces just lack the index signature Json wants.
const asJson = (record: ExecutionRecord) => record as unknown as Json;

function checkWait(waitMs: number): number {
  if (typeof waitMs !== 'number' || !(waitMs >= 0)) throw invalidParams('wait must be a non-negative number of milliseconds');
  return waitMs;
}

function splitTag(tag: string | undefined): [string | undefined, string | undefined] {
  if (tag === undefined) return [undefined, undefined];
  const at = tag.indexOf('=');
  return at < 0 ? [tag, undefined] : [tag.slice(0, at), tag.slice(at + 1)];
}

/** True when the ticket gets its slot, false when the signal aborts first. */
function startsBeforeAbort(ticket: Ticket, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
    ticket.started.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve(!signal.aborted);
      },
      () => resolve(false),
    );
  });
}

/** What a request asks to run; limits are left out, since omitted ones resolve to each node's defaults. */
function requestHash(r: CheckedRequest): string {
  const asked = [r.code, r.language, r.session, r.heap, r.tags];
  return createHash('sha256').update(JSON.stringify(asked)).digest('base64url');
}
