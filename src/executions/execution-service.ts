import { createHash, randomUUID } from 'node:crypto';
import { conflict, invalidParams, unavailable, UserError } from '../errors.ts';
import { settlesWithin } from '../settles-within.ts';
import type { Egress } from '../egress/index.ts';
import { byKind, CompilerFailure, newStepSeed, type HostCallPerformer, type HostCallRequest, type IsolatePool, type RunError, type RunHooks, type RunOutcome } from '../sandbox/index.ts';
import { journalInputs, pageLimit, type SessionService, type SessionStep, type StepRun } from '../sessions/index.ts';
import { artifactRecords } from './artifacts.ts';
import type { Command, CommandLog, Json, ReplicatedState } from '../store/index.ts';
import { Admission, withRelease, type Ticket } from './admission.ts';
import { NO_QUOTAS, SubjectQuotas, type QuotaLimits } from './quotas.ts';
import { EXECUTION_ID, newExecutionId } from './execution-id.ts';
import { ExecutionRecords, listItem, view } from './execution-records.ts';
import { bodyChars, type ExecutionStepVerdict, type RecordVerdict } from './execution-state.ts';
import { LiveOutput, type OutputVerdict } from './live-output.ts';
import { outputPage, type OutputWindow } from './output-pages.ts';
import { keptCode } from './kept-code.ts';
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
  /** Quotas per subject (default: none). */
  quotas?: QuotaLimits;
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

/** An execution this node is running or has queued, until its finished record is applied here (its record: `records`). */
interface LocalRun {
  readonly id: string;
  readonly controller: AbortController;
  /** Its CPU slot: held from admission until the sandbox is done with the run. */
  readonly ticket: Ticket;
  /** Resolves with the final record once the run is over. */
  done: Promise<ExecutionRecord>;
  /** A caller's mistake found while running (a conflict, a vanished heap): thrown to a waiting caller. */
  error?: UserError;
  /** Its id has reached a caller (an async submit, an idempotency key, a wait that ran out): it must be recorded. */
  handedOut: boolean;
  /** Its console on the way to the other nodes while it runs. */
  live?: LiveOutput;
  /** What it is doing besides running code (Execution.activity); undefined while it just runs. */
  activity?: string;
}

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
  /** Each subject's quotas: checked before a run is admitted, charged with the CPU it used. */
  readonly quotas: SubjectQuotas;
  private readonly local = new Map<string, LocalRun>();
  private readonly records: ExecutionRecords;
  /** Record proposals nobody waits for; close() lets them land before the log goes away. */
  private readonly pending = new Set<Promise<unknown>>();
  private draining = false;
  private closing = false;

  private readonly commandLog: CommandLog;
  private readonly pool: IsolatePool;
  private readonly sessions: SessionService;
  private readonly options: ExecutionServiceOptions;
  private readonly logger?: Logger;
  private readonly observer?: ExecutionObserver;
  /** Performs the sandbox's `fetch` under the operator's rules; without it every call fails. */
  private readonly egress?: Egress;
  private readonly extensions: RunExtensions;
  constructor(
    state: ReplicatedState,
    log: CommandLog,
    pool: IsolatePool,
    sessions: SessionService,
    options: ExecutionServiceOptions,
    logger?: Logger,
    observer?: ExecutionObserver,
    egress?: Egress,
    extensions: RunExtensions = {},
  ) {
    this.egress = egress;
    this.extensions = extensions;
    this.commandLog = log;
    this.pool = pool;
    this.sessions = sessions;
    this.options = options;
    this.logger = logger;
    this.observer = observer;
    this.admission = new Admission(options.maxConcurrent, options.maxQueue);
    this.quotas = new SubjectQuotas(state, options.quotas ?? NO_QUOTAS);
    this.records = new ExecutionRecords(state, log, (id) => {
      // A cancel asked for on another node reaches the owner through the replicated record.
      if (this.records.cancelRequested(id)) this.local.get(id)?.controller.abort();
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
      const earlier = await this.retried(r, r.idempotencyKey, answer);
      if (earlier) return earlier;
    }
    // A session step that cannot start (unknown heap, memory limit other than its chain's) is refused before it is queued.
    const plan = r.session !== null || r.heap !== null ? await this.sessions.prepare(r) : null;

    if (this.draining) throw unavailable(`${SHUTTING_DOWN}; retry on another node`, 1);
    const endQuota = this.quotas.admit(r);
    let ticket: Ticket;
    try {
      ticket = withRelease(this.admission.admit(), endQuota);
    } catch (err) {
      endQuota();
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
        // Idempotent: a create whose outcome was unknown (its leader died with it in flight) is proposed
        // again, and a second copy finds the record its first copy made: the run starts only after the
        // verdict, so nothing has finished that record (and let it be pruned) in between.
        verdict = (await this.commandLog.propose({ type: 'execution.create', record: asJson(record) }, { idempotent: true })) as RecordVerdict;
      } catch (err) {
        ticket.release();
        throw err;
      }
      // Ids are unique: a verdict naming this very id is this proposal's own first copy, committed.
      if (!verdict.ok && verdict.existing !== record.id) {
        ticket.release();
        return this.get(this.sameRequest(verdict.existing, r), answer);
      }
    }
    const run = this.start(record, r, plan, ticket, claimed);
    if (opts.waitMs <= 0) return view(record);

    // The caller waits for the answer: if it goes away first, the run is no longer wanted.
    const abandon = () => run.controller.abort();
    opts.signal?.addEventListener('abort', abandon, { once: true });
    try {
      if (await settlesWithin(run.done, opts.waitMs)) {
        if (run.error) throw run.error;
        return view(await run.done);
      }
    } finally {
      opts.signal?.removeEventListener('abort', abandon);
    }
    // The run goes on without this caller: its record (as it is now) is replicated before its id is handed out.
    const now = this.records.current(run.id) ?? record;
    if (!claimed) {
      run.handedOut = true;
      await this.commandLog.propose({ type: 'execution.create', record: asJson(now) });
    }
    return view(now);
  }

  async get(id: string, opts: { waitMs?: number; subject?: string | null } = {}): Promise<Execution> {
    const deadline = Date.now() + checkWait(opts.waitMs ?? 0);
    let record = await this.records.find(id, opts.subject);
    while (!FINISHED.has(record.status) && Date.now() < deadline) {
      await this.records.nextChange(id, deadline - Date.now());
      record = this.records.current(id) ?? record;
    }
    // The freshest view: the event loop may have been busy past the deadline while the run moved on.
    const e = view(await this.records.whole(this.records.current(id) ?? record));
    const activity = this.local.get(id)?.activity;
    return activity === undefined || FINISHED.has(e.status) ? e : { ...e, activity };
  }

  /**
   * A page of the console, of a running execution too (its console so far, replicated in chunks). With
   * `waitMs` a page that would be empty (nothing yet past the offset asked) waits for more output or
   * the end of the run, up to that long.
   */
  async output(id: string, opts: OutputWindow & { subject?: string | null; waitMs?: number } = {}): Promise<OutputPage> {
    const deadline = Date.now() + checkWait(opts.waitMs ?? 0);
    let record = await this.records.find(id, opts.subject);
    for (;;) {
      const page = outputPage((await this.records.whole(record)).console, opts);
      if (page.data !== '' || FINISHED.has(record.status) || Date.now() >= deadline) return page;
      await this.records.nextChange(id, deadline - Date.now());
      record = this.records.current(id) ?? record;
    }
  }

  async cancel(id: string, subject?: string | null): Promise<Execution> {
    const record = await this.records.find(id, subject);
    if (FINISHED.has(record.status)) throw conflict(`execution ${id} has already finished (${record.status})`);
    const run = this.local.get(id);
    if (run) {
      run.controller.abort();
      return view(await run.done);
    }
    // Its owner aborts it when it sees the request in its applied state.
    await this.commandLog.propose({ type: 'execution.cancel', id });
    return this.get(id, { waitMs: REMOTE_CANCEL_WAIT_MS, subject });
  }

  async list(
    opts: { status?: ExecutionStatus; session?: string; tag?: string; cursor?: string; limit?: number; subject?: string | null } = {},
  ): Promise<{ executions: Execution[]; nextCursor: string | null }> {
    // A cursor is the id of the last execution of the previous page; anything else (even '') would
    // silently answer an empty or wrong page.
    if (opts.cursor !== undefined && !EXECUTION_ID.test(opts.cursor)) throw invalidParams('cursor must be a next_cursor returned by an earlier page');
    await this.commandLog.linearizableRead();
    const limit = pageLimit(opts.limit, 50, 500);
    const [tagName, tagValue] = splitTag(opts.tag);
    const matching = this.records
      .all()
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
    await this.commandLog.linearizableRead();
    const stale = this.records.active().some((r) => r.node === this.options.nodeId && r.boot !== this.boot);
    return stale ? this.failNode(this.options.nodeId, this.boot, 'node restarted') : 0;
  }

  /** Nodes that own queued or running executions in the applied state: the cluster layer watches these. */
  activeOwners(): Set<string> {
    return new Set(this.records.active().map((r) => r.node));
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
    this.records.close();
    for (const run of this.local.values()) run.controller.abort();
    await Promise.all([...this.local.values()].map((run) => run.done));
    await Promise.all(this.pending);
  }

  private retention(): { keep: number; keepBytes: number } {
    return { keep: this.options.maxExecutions, keepBytes: this.options.maxExecutionBytes ?? DEFAULT_MAX_EXECUTION_BYTES };
  }

  private async failNode(node: string, exceptBoot: string | null, reason: string): Promise<number> {
    const cmd = { type: 'execution.fail', node, exceptBoot, reason, at: new Date().toISOString(), ...this.retention() };
    return ((await this.commandLog.propose(cmd)) as { failed: number }).failed;
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
      ...keptCode(r.code),
      subject: r.subject,
      boot: this.boot,
      idempotencyKey: r.idempotencyKey,
      ...(r.idempotencyKey === null ? {} : { requestHash: requestHash(r) }),
    };
  }

  /**
   * The answer to a retry: the execution that holds the request's idempotency key (the execution
   * module's `claim` gives keys out, at `execution.create`), unless that one gave it up.
   */
  private async retried(r: CheckedRequest, key: string, answer: { waitMs: number; subject: string | null }): Promise<Execution | null> {
    const first = await this.records.keyHolder(r.subject, key);
    if (first === undefined) return null;
    const earlier = await this.get(this.sameRequest(first, r), answer);
    // One that was interrupted while this retry waited for it gives up its key: run again.
    return FINISHED.has(earlier.status) && this.records.current(first)?.interrupted ? null : earlier;
  }

  /** The execution a retry is answered with, unless its key was first used for a different request. */
  private sameRequest(first: string, r: CheckedRequest): string {
    const hash = this.records.current(first)?.requestHash;
    if (hash !== undefined && hash !== requestHash(r)) {
      throw new UserError(422, 'idempotency_key_reused', `Idempotency-Key ${r.idempotencyKey} was already used for a different request (execution ${first})`);
    }
    return first;
  }

  private start(record: ExecutionRecord, r: CheckedRequest, plan: SessionStep | null, ticket: Ticket, claimed: boolean): LocalRun {
    const run: LocalRun = { id: record.id, controller: new AbortController(), ticket, done: Promise.resolve(record), handedOut: claimed };
    this.local.set(record.id, run);
    this.records.update(record);
    run.done = this.execute(run, record, r, plan, claimed);
    return run;
  }

  /** A run from its slot to its final record; the slot is given back here, whatever happens. */
  private async execute(run: LocalRun, queued: ExecutionRecord, r: CheckedRequest, plan: SessionStep | null, claimed: boolean): Promise<ExecutionRecord> {
    const { signal } = run.controller;
    try {
      if (!(await startsBeforeAbort(run.ticket, signal))) {
        return this.finish(run, queued, { ...stopped('cancelled before it started'), status: 'cancelled', interrupted: true });
      }
      const startedAt = new Date().toISOString();
      const running: ExecutionRecord = { ...queued, status: 'running', startedAt };
      this.records.update(running);
      if (claimed) this.background(this.commandLog.propose({ type: 'execution.start', id: run.id, startedAt }));
      const t0 = performance.now();
      const live = this.liveOutput(run);
      try {
        const typeError = r.typecheck ? await this.typeErrors(r) : null;
        if (typeError !== null) return this.finish(run, running, this.outcomeFields(notRun(typeError), t0));
        if (plan === null) {
          const step = { code: r.code, language: r.language, seed: newStepSeed(), clock: Date.now(), ...(r.inputs ? { inputs: r.inputs } : {}) };
          const outcome = await this.pool.run(step, r.limits, signal, this.hostCalls(r, run), live.hooks);
          this.quotas.charge(r.subject, outcome.cpuMs);
          return this.finish(run, running, this.outcomeFields(outcome, t0));
        }
        return await this.step(run, running, plan, t0, this.hostCalls(r, run), live);
      } catch (caught) {
        // A cell the TypeScript compiler could not handle ran nothing: the caller's to fix, never committed.
        const err = caught instanceof CompilerFailure ? invalidParams(caught.message) : caught;
        if (err instanceof UserError) run.error = err;
        else this.logger?.error({ err, execution: run.id }, 'execution failed inside the server');
        const message = err instanceof UserError ? err.message : 'internal error';
        // A step whose commit was refused (503: no leader to take it) is answered with that refusal; if its
        // id never reached the caller, a `failed` record of it would only be a record no one can ask for.
        const refused = err instanceof UserError && err.status === 503 && !run.handedOut;
        return this.finish(run, running, { ...stopped(message), status: 'failed', interrupted: true }, { replicate: !refused });
      }
    } finally {
      run.live?.close();
      plan?.close();
      run.ticket.release();
    }
  }

  /** A node without a checker still checks the syntax (and answers no type errors). */
  private async typeErrors(r: CheckedRequest): Promise<RunError | null> {
    const check = this.extensions.typeCheck;
    if (check === undefined) return null;
    try {
      return await check(r.code, { subject: r.subject, scopes: r.scopes }, r.session !== null || r.heap !== null);
    } catch (err) {
      throw unavailable(`typecheck: ${(err as Error).message}`, 1);
    }
  }

  /**
   * The console of a run as it runs: this node's view of the record follows every chunk, and the
   * chunks are replicated (`execution.output`) once the record is (its id was handed out), so a poll on
   * any node pages through what exists so far. The final record carries the whole console.
   */
  private liveOutput(run: LocalRun): { hooks: RunHooks } {
    const live = new LiveOutput(
      run.id,
      (chunk) => (run.handedOut ? (this.commandLog.propose({ type: 'execution.output', ...chunk, lines: chunk.lines as unknown as Json }) as Promise<OutputVerdict>) : Promise.resolve({ ok: false, have: 0 })),
      (lines, truncated) => {
        const current = this.records.current(run.id);
        if (current && !FINISHED.has(current.status)) this.records.update({ ...current, console: [...lines], consoleTruncated: truncated });
      },
    );
    run.live = live;
    return {
      hooks: {
        onConsole: (line, mark) => live.line(line, mark),
        onReplay: (steps) => (run.activity = steps > 0 ? `replaying ${steps} step${steps === 1 ? '' : 's'} to rebuild the session's state` : undefined),
      },
    };
  }

  /**
   * A session step, in order: run it on the session's head, then commit the step and its finished
   * record in one command. A lost compare-and-set on the head (another node's step won) runs it again
   * on the new head; a stopped step (timeout, memory cap, cancel) is not committed and is recorded alone.
   */
  private async step(
    run: LocalRun,
    running: ExecutionRecord,
    plan: SessionStep,
    t0: number,
    hostCalls: HostCallPerformer | undefined,
    live: { hooks: RunHooks },
  ): Promise<ExecutionRecord> {
    for (let attempt = 0; ; attempt++) {
      // A run again after a lost compare-and-set prints its lines anew: only the first is shown live.
      if (attempt > 0) run.live?.close();
      const tried = await plan.run(run.controller.signal, hostCalls, attempt === 0 ? live.hooks : undefined);
      this.quotas.charge(running.subject, tried.outcome.cpuMs);
      // The sandbox is done with it: the CPU slot goes to the next run while this one waits for a quorum.
      run.ticket.release();
      const record = this.finished(running, tried, t0);
      if (!tried.advances) return this.finish(run, running, record);
      const cmd = { type: 'execution.step', step: plan.command, record: asJson(record), ...this.retention() } satisfies Command;
      // Idempotent: a second copy finds its record finished with its state (execution-state.ts `step`).
      let repeated = false;
      const verdict = (await this.commandLog.propose(cmd, { idempotent: true, onRepeat: () => (repeated = true) })) as ExecutionStepVerdict;
      if (!verdict.ok && verdict.reason === 'record_closed') {
        throw conflict(`execution ${run.id} was ended before its step could commit; the session is unchanged`);
      }
      // A second copy finds its first only while the record is kept: if so many finished since that it
      // was forgotten, and the session moved on, running the step again could record it twice.
      if (repeated && !verdict.ok && verdict.reason === 'moved') {
        throw unavailable(`the cluster's leader changed while step ${run.id} was committing and the session moved on meanwhile: the step may have been recorded; read the session before running it again`);
      }
      if (plan.settle(verdict)) return this.settle(run, record);
    }
  }

  /**
   * One run's host calls for its caller: `fetch` under the egress rules, `mcp` to the upstream servers;
   * while some are pending the run's activity says so.
   */
  private hostCalls(r: CheckedRequest, run: LocalRun): HostCallPerformer | undefined {
    const caller: Caller = { subject: r.subject, scopes: r.scopes };
    const fetch = this.egress?.performer(caller);
    const mcp = this.extensions.hostCalls?.(caller);
    const performer = fetch !== undefined && mcp !== undefined ? byKind({ fetch, mcp }) : (fetch ?? mcp);
    return performer && watchedCalls(performer, (activity) => (run.activity = activity));
  }

  /** The final record of a session step: its outcome and its place in the session. */
  private finished(running: ExecutionRecord, tried: StepRun, t0: number): ExecutionRecord {
    return { ...running, ...this.outcomeFields(tried.outcome, t0), session: tried.session, heap: tried.heap, step: tried.step };
  }

  private outcomeFields(o: RunOutcome, t0: number): Partial<ExecutionRecord> & { status: ExecutionStatus } {
    return {
      status: o.status,
      result: (o.result ?? null) as Json,
      resultText: o.resultText,
      console: o.console,
      consoleTruncated: o.consoleTruncated,
      error: o.error,
      ...artifactRecords(o.artifacts),
      finishedAt: new Date().toISOString(),
      // Microseconds: a warm run takes well under a millisecond, which whole milliseconds would hide.
      durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
    };
  }

  /** Records a finished run that is not yet in the replicated state; the caller is answered without waiting for it. */
  private finish(
    run: LocalRun,
    current: ExecutionRecord,
    fields: Partial<ExecutionRecord> & { status: ExecutionStatus },
    opts: { replicate?: boolean } = {},
  ): ExecutionRecord {
    const shutdown = fields.status === 'cancelled' && run.controller.signal.reason === SHUTTING_DOWN;
    const ended = shutdown ? { ...fields, ...stopped(`${SHUTTING_DOWN}: stopped at the end of the shutdown grace period`), status: 'failed' as const } : fields;
    if (fields.status === 'cancelled') ended.interrupted = true;
    const record = { ...current, ...ended, finishedAt: fields.finishedAt ?? new Date().toISOString() };
    this.records.update(record);
    this.observer?.executionFinished(record.status, record.durationMs);
    if (opts.replicate === false) {
      this.forget(run);
      return record;
    }
    const cmd: Command = { type: 'execution.finish', record: asJson(record), ...this.retention() };
    this.background(this.replicateFinal(cmd, record.id).finally(() => this.forget(run)));
    return record;
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
        await this.commandLog.propose(cmd);
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
  private settle(run: LocalRun, record: ExecutionRecord): ExecutionRecord {
    this.records.update(record);
    this.observer?.executionFinished(record.status, record.durationMs);
    this.forget(run);
    return record;
  }

  private forget(run: LocalRun): void {
    if (this.local.get(run.id) !== run) return;
    this.local.delete(run.id);
    this.records.forget(run.id);
  }

  private background(p: Promise<unknown>): void {
    const settled = p.catch((err: unknown) => this.logger?.warn({ err }, 'replicating an execution record failed'));
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
  }
}

// A list page holds at most about this much, whatever its `limit` (the last item may pass it).
const LIST_PAGE_BYTES = 1 << 20;
// What an item holds besides its body (ids, times, node…), for the page's size.
const ITEM_OVERHEAD_CHARS = 512;

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
  const asked = [r.code, r.language, r.session, r.heap, r.tags, r.inputs ? journalInputs(r.inputs) : null];
  return createHash('sha256').update(JSON.stringify(asked)).digest('base64url');
}

/** A performer that tells `activity` which calls are pending ("waiting on 2 host calls: fetch, mcp"), undefined when none is. */
function watchedCalls(performer: HostCallPerformer, activity: (doing: string | undefined) => void): HostCallPerformer {
  const pending = new Map<string, number>();
  const told = () => {
    const count = [...pending.values()].reduce((n, k) => n + k, 0);
    activity(count === 0 ? undefined : `waiting on ${count} host call${count === 1 ? '' : 's'}: ${[...pending.keys()].join(', ')}`);
  };
  return {
    limits: performer.limits,
    ...(performer.sendsOut ? { sendsOut: (request: HostCallRequest) => performer.sendsOut!(request) } : {}),
    async perform(request, signal) {
      pending.set(request.kind, (pending.get(request.kind) ?? 0) + 1);
      told();
      try {
        return await performer.perform(request, signal);
      } finally {
        const left = pending.get(request.kind)! - 1;
        if (left === 0) pending.delete(request.kind);
        else pending.set(request.kind, left);
        told();
      }
    },
  };
}
