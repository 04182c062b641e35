import { conflict, invalidParams, notFound, unavailable, UserError } from '../errors.ts';
import { settlesWithin } from '../settles-within.ts';
import { LiveSession, newStepSeed, PackageSet, PackageUnavailableError, replayBudgetMs, SessionDisposedError, type Limits, type RunOutcome, type Step } from '../sandbox/index.ts';
import type { Command, CommandLog, ReplicatedState } from '../store/index.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { LiveSessions, type LiveSessionsOptions, type WarmSession } from './live-sessions.ts';
import { SessionJournal } from './session-journal.ts';
import { heapId, type HeapObject, type Language, type StepCommand, type StepVerdict } from './session-state.ts';

export interface SessionServiceOptions {
  liveSessions: LiveSessionsOptions;
  /** Runs of one step that lost the compare-and-set on the head to another node before `conflict`. */
  maxStepAttempts?: number;
  observer?: SessionObserver;
  /** What steps may import (default: nothing). */
  packages?: PackageSet;
  /** The largest memory limit this node allows (--max-memory-mb): a chain fixed above it is not rebuilt here. */
  maxMemoryMb?: number;
}

/** What the node's metrics time: rebuilding a warm isolate from the journal. */
export interface SessionObserver {
  sessionReplayed(seconds: number): void;
}

export interface StepRequest {
  code: string;
  language: Language;
  session: string | null;
  heap: string | null;
  subject: string | null;
  limits: Limits;
  /**
   * Whether the caller chose `limits.memoryMb`. A chain's memory limit is fixed by its first step
   * (replay must run under the limit the steps ran under, or a step that fitted could now fail), so
   * an explicit different value is refused and an implicit one is replaced by the chain's.
   */
  memoryExplicit: boolean;
  idempotencyKey: string | null;
  /** Id of the execution this step is recorded as. */
  execution: string | null;
  signal?: AbortSignal;
  /** Builds the command that records the step's execution; it is committed atomically with the step. */
  record?: (result: StepResult) => Command;
  /**
   * Told when the sandbox is done with the step, before its commit: the CPU slot the caller holds can
   * go to the next run while this one waits for a quorum.
   */
  ran?: () => void;
}

export interface StepResult {
  outcome: RunOutcome;
  /** The session state advanced (the step completed or threw); false after a timeout, memory cap or cancel. */
  committed: boolean;
  session: string | null;
  /** The state after the step; when not committed, the unchanged state the step was tried on. */
  heap: string | null;
  step: number | null;
  /** Set when a step with the same idempotency key was committed first: that execution is the answer. */
  duplicateOf: string | null;
}

export interface SessionInfo {
  name: string;
  heap: string;
  steps: number;
  createdAt: string;
  updatedAt: string;
}

export interface JournalStep {
  step: number;
  heap: string;
  code: string;
  language: Language;
  threw: boolean;
  createdAt: string;
}

const SESSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const HEAP_ID = /^[0-9a-f]{64}$/;
const COMMITTED: ReadonlySet<RunOutcome['status']> = new Set(['completed', 'failed']);
/** A step cancelled while it waited for the session's earlier steps. */
const NOT_STARTED: RunOutcome = {
  status: 'cancelled',
  result: null,
  resultText: null,
  console: [],
  consoleTruncated: false,
  error: null,
  cpuMs: 0,
  wallMs: 0,
};

/**
 * Runs session steps: a warm isolate per session brought to the current head by replaying only the
 * steps it lacks, each step committed with a compare-and-set on the head it ran on (see
 * docs/sessions.md for why CAS rather than per-session ownership).
 */
export class SessionService {
  private readonly journal: SessionJournal;
  private readonly live: LiveSessions;
  private readonly mutex = new KeyedMutex();
  /** Rebuilds that outlived the step that started them, by warm key: the retry waits for this one. */
  private readonly rebuilds = new Map<string, Promise<void>>();
  private closed = false;
  private readonly maxAttempts: number;
  private readonly observer: SessionObserver | undefined;
  private readonly packages: PackageSet;
  private readonly maxMemoryMb: number;

  private readonly log: CommandLog;
  constructor(
    state: ReplicatedState,
    log: CommandLog,
    options: SessionServiceOptions,
  ) {
    this.log = log;
    this.journal = new SessionJournal(state);
    this.live = new LiveSessions(options.liveSessions);
    this.maxAttempts = options.maxStepAttempts ?? 5;
    this.observer = options.observer;
    this.packages = options.packages ?? PackageSet.none();
    this.maxMemoryMb = options.maxMemoryMb ?? Infinity;
  }

  /** Warm session isolates held on this node. */
  get warmCount(): number {
    return this.live.size;
  }

  /** Rejects a malformed session name or heap id before any work is queued for it. */
  static validate(session: string | null, heap: string | null): void {
    if (session !== null && !SESSION_NAME.test(session)) {
      throw invalidParams('session must be 1-128 characters: letters, digits and . _ : @ - (starting with a letter or digit)');
    }
    if (heap !== null && !HEAP_ID.test(heap)) throw invalidParams('heap must be a state id as returned by an earlier step (64 hex digits)');
  }

  async step(req: StepRequest): Promise<StepResult> {
    SessionService.validate(req.session, req.heap);
    if (req.session === null && req.heap === null) throw invalidParams('a session step needs a session or a heap');
    // Concurrent local steps on one session queue here instead of racing each other's CAS.
    const sessionKey = req.session === null ? null : warmKeyOfSession(req.subject, req.session);
    const release = sessionKey === null ? undefined : await this.mutex.lock(sessionKey, req.signal);
    if (release === null) {
      return { outcome: NOT_STARTED, committed: false, session: req.session, heap: null, step: null, duplicateOf: null };
    }
    try {
      for (let attempt = 1; ; attempt++) {
        // After a lost CAS this node has applied the winner already: only the first read needs ReadIndex.
        const result = await this.attempt(req, sessionKey, attempt === 1);
        if (result !== 'moved') return result;
        if (attempt >= this.maxAttempts) {
          throw conflict(`session ${req.session} kept moving under this step (${attempt} attempts); retry it`);
        }
      }
    } finally {
      release?.();
    }
  }

  /** One run of the step on the current head, committed with a compare-and-set on that head. */
  private async attempt(req: StepRequest, sessionKey: string | null, fresh: boolean): Promise<StepResult | 'moved'> {
    const base = await this.base(req, fresh);
    const limits = { ...req.limits, memoryMb: base.memoryMb };
    const warm = await this.warm(sessionKey ?? warmKeyOfHeap(base.parent), base.parent, base.memoryMb, req.limits.wallTimeoutMs);
    let kept = false;
    try {
      // Never behind the parent's clock: Date.now() in a session does not go back when the next step
      // runs on a node whose clock is behind.
      const clock = Math.max(Date.now(), base.parentClock + 1);
      const input = { code: req.code, language: req.language, seed: newStepSeed(), clock } satisfies Step;
      const outcome = await warm.live.run(input, limits, req.signal).catch(packageUnavailable);
      req.ran?.();
      if (!COMMITTED.has(outcome.status)) {
        return { outcome, committed: false, session: req.session, heap: base.parent, step: null, duplicateOf: null };
      }
      const object: HeapObject = {
        parent: base.parent,
        step: base.parentStep + 1,
        ...input,
        memoryMb: base.memoryMb,
        subject: req.subject,
        threw: outcome.status === 'failed',
        createdAt: new Date(input.clock).toISOString(),
        // What a replay of this step may be given: the CPU it took (whole microseconds).
        cpuMs: Math.round(outcome.cpuMs * 1000) / 1000,
        ...(outcome.packages ? { packages: outcome.packages.map(({ name, version, hash }) => ({ name, version, hash })) } : {}),
      };
      const id = heapId(object);
      const result: StepResult = { outcome, committed: true, session: req.session, heap: id, step: object.step, duplicateOf: null };
      const cmd: StepCommand = {
        type: 'session.step',
        heap: id,
        object,
        session: req.session,
        expect: base.expect,
        subject: req.subject,
        idempotencyKey: req.idempotencyKey,
        execution: req.execution,
        record: req.record ? req.record(result) : null,
      };
      const verdict = (await this.log.propose(cmd)) as StepVerdict;
      if (verdict.ok && !verdict.duplicate) {
        warm.head = id;
        this.live.put(sessionKey ?? warmKeyOfHeap(id), warm);
        kept = true;
        return result;
      }
      if (verdict.ok) {
        const duplicateOf = verdict.execution === req.execution ? null : verdict.execution;
        return { ...result, heap: verdict.heap, step: verdict.step, duplicateOf };
      }
      if (verdict.reason === 'no_heap') throw notFound(`heap ${req.heap ?? base.parent} not found`);
      if (verdict.reason === 'record_closed') throw conflict(`execution ${req.execution} was ended before its step could commit; the session is unchanged`);
      // Retrying on an empty head would bring a deleted session back under its name.
      if (verdict.reason === 'moved' && verdict.head === null && base.expect !== null) {
        throw conflict(`session ${req.session} was deleted while this step ran; the step was not recorded`);
      }
      return 'moved';
    } finally {
      // Unless it went back holding a committed head, the isolate ran something the journal does not
      // have (a stopped step, a lost CAS, a commit that failed): drop it, the journal rebuilds it.
      if (!kept) warm.live.dispose();
    }
  }

  /** Refuses a step that cannot start (unknown heap, memory limit other than its chain's) before it is queued. */
  async check(req: StepRequest): Promise<void> {
    SessionService.validate(req.session, req.heap);
    // Local state is enough to refuse early; the step itself reads the head with ReadIndex.
    await this.base(req, false);
  }

  /** The state object `heap` of `subject`, or `notFound`: a fork never silently starts from an empty state. */
  private async existingHeap(heap: string, subject: string | null): Promise<HeapObject> {
    // A heap made on another node may not be applied here yet: catch up once before saying it is unknown.
    let object = await this.journal.heap(heap, subject);
    if (!object) {
      await this.log.linearizableRead();
      object = await this.journal.heap(heap, subject);
    }
    if (!object) throw notFound(`heap ${heap} not found`);
    return object;
  }

  async list(opts: { cursor?: string; limit?: number; subject?: string | null } = {}): Promise<{ sessions: SessionInfo[]; nextCursor: string | null }> {
    await this.log.linearizableRead();
    const limit = pageLimit(opts.limit, 100, 1000);
    const all = this.journal.sessions(opts.subject).filter((s) => opts.cursor === undefined || s.name > opts.cursor);
    const page = all.slice(0, limit).map(info);
    return { sessions: page, nextCursor: all.length > limit ? page[page.length - 1]!.name : null };
  }

  async get(
    name: string,
    opts: { stepsCursor?: string; stepsLimit?: number; subject?: string | null } = {},
  ): Promise<SessionInfo & { journal: JournalStep[]; nextStepsCursor: string | null }> {
    SessionService.validate(name, null);
    await this.log.linearizableRead();
    const head = this.journal.session(opts.subject, name);
    if (!head) throw notFound(`session ${name} not found`);
    const after = opts.stepsCursor === undefined ? 0 : Number(opts.stepsCursor);
    if (!Number.isInteger(after) || after < 0) throw invalidParams('steps_cursor must be a next_steps_cursor returned by an earlier page');
    const limit = pageLimit(opts.stepsLimit, 100, 1000);
    const page: JournalStep[] = [];
    let chars = 0;
    for (const o of await this.journal.chainPage(head.head, after, limit)) {
      // Each step's code can be as large as a request: a page stops at about a megabyte of it.
      if (page.length > 0 && chars + o.code.length > JOURNAL_PAGE_CHARS) break;
      chars += o.code.length;
      page.push({ step: o.step, heap: o.id, code: o.code, language: o.language, threw: o.threw, createdAt: o.createdAt });
    }
    const last = page[page.length - 1];
    return { ...info(head), journal: page, nextStepsCursor: last && last.step < head.steps ? String(last.step) : null };
  }

  async delete(name: string, subject?: string | null): Promise<void> {
    SessionService.validate(name, null);
    const done = (await this.log.propose({ type: 'session.delete', session: name, subject: subject ?? null })) as { ok: boolean };
    this.live.drop(warmKeyOfSession(subject ?? null, name));
    if (!done.ok) throw notFound(`session ${name} not found`);
  }

  /** Disposes every warm isolate on this node (and those of rebuilds still going, when they end). */
  close(): void {
    this.closed = true;
    this.live.clear();
  }

  /** Where the step starts: the state it runs on, the head it expects the session to have, its memory limit. */
  private async base(
    req: StepRequest,
    fresh: boolean,
  ): Promise<{ parent: string | null; parentStep: number; parentClock: number; expect: string | null; memoryMb: number }> {
    // The head this node has applied, once it applied every entry it knows to be committed: no round
    // trip to the leader (it cost ~1 ms of CPU per step across the nodes). The commit's compare-and-set
    // on the head decides, so a stale head (this node had not yet heard of a step committed elsewhere)
    // costs a run and a rebuild, never a lost or forked step. A node that knows no leader answers 503
    // before running anything.
    if (fresh && req.session !== null) await this.log.localRead();
    const head = req.session === null ? undefined : this.journal.session(req.subject, req.session);
    const expect = head?.head ?? null;
    const parent = req.heap ?? expect;
    if (parent === null) return { parent, parentStep: 0, parentClock: 0, expect, memoryMb: req.limits.memoryMb };
    const object = req.heap === null ? (await this.journal.heap(parent, req.subject))! : await this.existingHeap(req.heap, req.subject);
    if (object.memoryMb > this.maxMemoryMb) {
      throw new UserError(
        409,
        'memory_limit_not_allowed',
        `${req.heap === null ? `session ${req.session}` : `heap ${req.heap}`} runs with heap_memory_max_mb ${object.memoryMb}, fixed by the first step of its chain, ` +
          `but this node allows at most ${this.maxMemoryMb} (--max-memory-mb), so it cannot continue here; raise the limit back, or start a new session`,
      );
    }
    if (req.memoryExplicit && req.limits.memoryMb !== object.memoryMb) {
      throw invalidParams(
        `${req.heap === null ? `session ${req.session}` : `heap ${req.heap}`} runs with heap_memory_max_mb ${object.memoryMb}, ` +
          'fixed by the first step of its chain (replay needs the same limit); omit it or pass that value',
      );
    }
    return { parent, parentStep: object.step, parentClock: object.clock, expect, memoryMb: object.memoryMb };
  }

  /**
   * A warm isolate holding state `head`: the cached one plus the steps it lacks, or a rebuild. The
   * caller waits for a replay no longer than its own wall limit (`waitMs`): past that it is told to
   * retry, and the replay goes on without it and leaves the isolate warm for the retry.
   */
  private async warm(key: string, head: string | null, memoryMb: number, waitMs: number): Promise<WarmSession> {
    const earlier = this.rebuilds.get(key);
    if (earlier && !(await settlesWithin(earlier, waitMs))) throw stillRebuilding();
    const cached = this.live.take(key);
    const missing = cached && cached.memoryMb === memoryMb ? await this.journal.stepsBetween(cached.head, head) : null;
    const warm = cached && missing ? cached : { live: await LiveSession.create(memoryMb, this.packages), head: null, memoryMb };
    if (warm !== cached) cached?.live.dispose();
    const steps = missing ?? (await this.journal.stepsBetween(null, head))!;
    if (steps.length > 0) {
      const t0 = performance.now();
      const replayed = warm.live.replay(steps).then(
        () => this.observer?.sessionReplayed((performance.now() - t0) / 1000),
        (err: unknown) => {
          warm.live.dispose();
          if (err instanceof SessionDisposedError) throw replayFailed(err, steps, memoryMb);
          return packageUnavailable(err);
        },
      );
      if (!(await settlesWithin(replayed, waitMs))) {
        // Rebuilds without a caller hold no admission slot: past a few at once, one is stopped instead.
        if (this.rebuilds.size >= MAX_BACKGROUND_REBUILDS) {
          warm.live.dispose();
          throw unavailable('this node is rebuilding too many sessions at once; retry the step', 1);
        }
        const background = replayed.then(
          () => {
            warm.head = head;
            if (this.closed) warm.live.dispose();
            else this.live.put(key, warm);
          },
          () => undefined,
        );
        this.rebuilds.set(key, background);
        void background.finally(() => {
          if (this.rebuilds.get(key) === background) this.rebuilds.delete(key);
        });
        throw stillRebuilding();
      }
      await replayed;
    }
    warm.head = head;
    return warm;
  }
}

const JOURNAL_PAGE_CHARS = 1 << 20;
const MAX_BACKGROUND_REBUILDS = 4;

const stillRebuilding = () =>
  new UserError(503, 'session_rebuilding', 'this session is being rebuilt from its journal on this node, which takes longer than the step\'s time limit; retry the step (the rebuild goes on without it)', 1);

/**
 * A replay stopped by a limit. Its budget is what the steps recorded (with margin) and its memory
 * limit the one they ran under, so this is a real impossibility on this node, said as such.
 */
function replayFailed(err: SessionDisposedError, steps: Step[], memoryMb: number): UserError {
  if (/memory_limit/.test(err.message)) {
    return new UserError(409, 'replay_failed', `this session's state cannot be rebuilt on this node: replaying its ${steps.length} steps ran out of the chain's ${memoryMb} MB memory limit`);
  }
  const recorded = steps.reduce((ms, s) => ms + (s.cpuMs ?? 0), 0);
  return new UserError(
    409,
    'replay_failed',
    `this session's state cannot be rebuilt on this node: replaying its ${steps.length} steps took more than ${Math.round(replayBudgetMs(steps) / 1000)} s of CPU ` +
      `(they used ${(recorded / 1000).toFixed(1)} s when they ran; ${err.message})`,
  );
}

/** A bundle the session's journal names is missing on this node: the caller is told which, nothing ran. */
function packageUnavailable(err: unknown): never {
  if (err instanceof PackageUnavailableError) throw new UserError(409, 'package_unavailable', err.message);
  throw err;
}

const warmKeyOfSession = (subject: string | null, name: string) => `session:${subject ?? ''}\u0000${name}`;
const warmKeyOfHeap = (heap: string | null) => `heap:${heap}`;

function info(h: { name: string; head: string; steps: number; createdAt: string; updatedAt: string }): SessionInfo {
  return { name: h.name, heap: h.head, steps: h.steps, createdAt: h.createdAt, updatedAt: h.updatedAt };
}

export function pageLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw invalidParams(`limit must be an integer from 1 to ${max}`);
  return limit;
}
