import { conflict, invalidParams, notFound, unavailable, UserError } from '../errors.ts';
import { settlesWithin } from '../settles-within.ts';
import { IsolateShares, LiveSession, PackageSet, replayBudgetMs, ReplayAbandonedError, ReplayStoppedError, SessionDisposedError, SessionDivergedError, type HostCallPerformer, type RunHooks, type Step } from '../sandbox/index.ts';
import type { CommandLog, ReplicatedState } from '../store/index.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import { LiveSessions, type LiveSessionsOptions, type WarmSession } from './live-sessions.ts';
import { SessionJournal } from './session-journal.ts';
import { isNameKey, NAMES, SESSION_MODULE, type SessionHead, type StateObject, type Language, type StepVerdict } from './session-state.ts';
import { packageUnavailable, SessionStep, subjectGroupOfWarmKey, warmKeyOfSession, type StartingPoint, type StepContext, type StepRequest, type StepRun } from './session-step.ts';

/** Which sessions a node keeps warm while other nodes step them (see SessionService.followHead). */
export type StandbyMode = 'held' | 'all' | 'off';

export interface SessionServiceOptions {
  liveSessions: LiveSessionsOptions;
  /** Default `held`. */
  standbys?: StandbyMode;
  /** Runs of one step that lost the compare-and-set on the head to another node before `conflict`. */
  maxStepAttempts?: number;
  observer?: SessionObserver;
  /** What steps may import (default: nothing). */
  packages?: PackageSet;
  /** The artifact cap steps run under: replay holds them to it again (default: the sandbox's). */
  maxArtifactBytes?: number;
  /** This node's id, named in the claims its steps take on their sessions. */
  nodeId?: string;
  /** The largest memory limit this node allows (--max-memory-mb): a chain fixed above it is not continued here. */
  maxMemoryMb?: number;
  /** Sessions of one subject whose contexts share an isolate (default 1: an isolate each; see IsolateShare for what sharing gives up). */
  sessionsPerIsolate?: number;
}

/**
 * What the node's metrics time: replaying journal steps into a warm isolate, on a step's request
 * path (a rebuild, or the steps it lacked) or in the background as a warm standby (followHead).
 */
export interface SessionObserver {
  sessionReplayed(seconds: number, path: 'request' | 'standby'): void;
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
  /** Catch-ups under way (see followHead), by warm key: a step waits for one no longer than its own limit. */
  private readonly catchingUp = new Map<string, Promise<void>>();
  private readonly standbys: StandbyMode;
  private readonly unfollow: () => void;
  private closed = false;
  private readonly stepContext: StepContext;
  private readonly observer: SessionObserver | undefined;
  private readonly packages: PackageSet;
  private readonly maxArtifactBytes: number | undefined;
  private readonly maxMemoryMb: number;
  private readonly shares: IsolateShares | undefined;

  private readonly commandLog: CommandLog;
  constructor(
    state: ReplicatedState,
    log: CommandLog,
    options: SessionServiceOptions,
  ) {
    this.commandLog = log;
    this.journal = new SessionJournal(state);
    this.live = new LiveSessions(options.liveSessions);
    this.stepContext = {
      commandLog: log,
      mutex: this.mutex,
      live: this.live,
      maxAttempts: options.maxStepAttempts ?? 5,
      nodeId: options.nodeId ?? 'n1',
      startingPoint: (req) => this.startingPoint(req),
      warm: (key, head, memoryMb, waitMs, onReplay) => this.warm(key, head, memoryMb, waitMs, 'request', onReplay),
      behindRebuild: async (key, waitMs) => {
        const pending = this.catchingUp.get(key) ?? this.rebuilds.get(key);
        if (pending && !(await settlesWithin(pending, waitMs))) throw stillRebuilding();
      },
    };
    this.observer = options.observer;
    this.packages = options.packages ?? PackageSet.none();
    this.maxArtifactBytes = options.maxArtifactBytes;
    this.maxMemoryMb = options.maxMemoryMb ?? Infinity;
    this.shares = (options.sessionsPerIsolate ?? 1) > 1 ? new IsolateShares(options.sessionsPerIsolate!) : undefined;
    this.standbys = options.standbys ?? 'held';
    this.unfollow =
      this.standbys === 'off'
        ? () => undefined
        : state.onChange((module, key) => {
            if (module === SESSION_MODULE && key !== null && isNameKey(key)) this.followHead(state.get(SESSION_MODULE, key) as SessionHead | undefined);
          });
    if (this.standbys !== 'off') void this.warmRecent(state);
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

  /**
   * The step's plan (see SessionStep), once it is known that it can start: an unknown heap or a memory
   * limit other than its chain's is refused here, from this node's state, before any slot is taken.
   * Nothing is held yet: the step takes the session's turn when it first runs.
   */
  async prepare(req: StepRequest): Promise<SessionStep> {
    await this.startingPoint(req);
    return new SessionStep(this.stepContext, req);
  }

  /**
   * A step committed on its own, with no execution record to go with it (what this layer's tests and
   * benchmarks drive; the executions module drives the same plan with its record in the commit).
   */
  async step(req: StepRequest, signal?: AbortSignal, hostCalls?: HostCallPerformer): Promise<StepRun> {
    const plan = await this.prepare(req);
    try {
      for (;;) {
        const tried = await plan.run(signal, hostCalls);
        if (!tried.advances || plan.settle((await this.commandLog.propose(plan.command)) as StepVerdict)) return tried;
      }
    } finally {
      plan.close();
    }
  }

  /** The state object `heap` of `subject`, or `notFound`: a fork never silently starts from an empty state. */
  private async existingState(heap: string, subject: string | null): Promise<StateObject> {
    // A heap made on another node may not be applied here yet: catch up once before saying it is unknown.
    let object = await this.journal.stateObject(heap, subject);
    if (!object) {
      await this.commandLog.linearizableRead();
      object = await this.journal.stateObject(heap, subject);
    }
    if (!object) throw notFound(`heap ${heap} not found`);
    return object;
  }

  async list(opts: { cursor?: string; limit?: number; subject?: string | null } = {}): Promise<{ sessions: SessionInfo[]; nextCursor: string | null }> {
    await this.commandLog.linearizableRead();
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
    await this.commandLog.linearizableRead();
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
    const done = (await this.commandLog.propose({ type: 'session.delete', session: name, subject: subject ?? null })) as { ok: boolean };
    this.live.drop(warmKeyOfSession(subject ?? null, name));
    if (!done.ok) throw notFound(`session ${name} not found`);
  }

  /** Disposes every warm isolate on this node (and those of rebuilds still going, when they end). */
  close(): void {
    this.closed = true;
    this.unfollow();
    this.live.clear();
  }

  /**
   * Warm standbys: a session this node holds warm is kept at the head other nodes commit, by
   * replaying their steps into its isolate in the background, in the session's turn. So the next
   * step here (round robin, or after the node that served it died) finds nothing left to replay on
   * its request path. In `held` mode only sessions already warm here are followed: the work is the
   * replay their next step here would do, done earlier, bounded by the warm set. In `all` mode a
   * session another node steps is built here too: a standby for failover, paid for with every step
   * run on every node.
   */
  private followHead(head: SessionHead | undefined): void {
    if (!head || this.closed) return;
    const key = warmKeyOfSession(head.subject, head.name);
    const warm = this.live.peek(key);
    if (!warm && (this.standbys !== 'all' || this.mutex.busy(key))) return; // busy: a step of this node is taking it
    // Its own steps put the isolate back at the new head; a catch-up under way reads the newest head before it ends.
    if (warm?.head === head.head || this.catchingUp.has(key) || this.catchingUp.size >= MAX_BACKGROUND_CATCHUPS) return;
    this.catchingUp.set(key, this.catchUp(key, head.subject, head.name, this.standbys === 'all'));
  }

  /**
   * A node that starts (a restart, or a new member once its state is in) rebuilds, in the background
   * and one at a time, the sessions stepped in the last minutes before its state ends, most recent
   * first: they are the ones likely to be stepped here next. Once built, they are followed as above.
   */
  private async warmRecent(state: ReplicatedState): Promise<void> {
    const heads = state.scan(SESSION_MODULE, NAMES).map(([, v]) => v as SessionHead);
    // A loop, not Math.max(...): a spread of every session's time overflows the stack past ~100k sessions.
    let latest = 0;
    for (const h of heads) latest = Math.max(latest, Date.parse(h.updatedAt));
    const recent = heads
      .filter((h) => Date.parse(h.updatedAt) >= latest - RECENT_WINDOW_MS)
      .sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))
      .slice(0, RECENT_MAX);
    for (const head of recent) {
      const key = warmKeyOfSession(head.subject, head.name);
      if (this.closed) return;
      if (this.live.peek(key) || this.catchingUp.has(key)) continue;
      const built = this.catchUp(key, head.subject, head.name, true);
      this.catchingUp.set(key, built);
      await built;
    }
  }

  /** Brings the session's warm isolate to its head in its turn; `build`: also when none is held here. */
  private async catchUp(key: string, subject: string | null, name: string, build: boolean): Promise<void> {
    const endTurn = (await this.mutex.lock(key))!;
    try {
      for (;;) {
        const head = this.journal.session(subject, name)?.head ?? null;
        const held = this.live.peek(key);
        if (this.closed || head === null || held?.head === head || (!held && !build) || this.rebuilds.has(key)) return;
        const memoryMb = held?.memoryMb ?? (await this.journal.stateObject(head, subject))?.memoryMb;
        if (memoryMb === undefined || memoryMb > this.maxMemoryMb) return;
        const warm = await this.warm(key, head, memoryMb, Infinity, 'standby');
        if (this.closed) warm.live.dispose();
        else this.live.put(key, warm);
      }
    } catch {
      // Nobody waits on a catch-up (it must never reject): the next step here rebuilds the session from the journal, and says why if it cannot.
    } finally {
      // In the same turn as the last look at the head (no await between): a head committed after it starts a new catch-up.
      this.catchingUp.delete(key);
      endTurn();
    }
  }

  /**
   * Where the step starts, as this node's applied state has it (the step reads it again each time it
   * runs: the head can move while it waits for its slot and its turn).
   */
  private async startingPoint(req: StepRequest): Promise<StartingPoint> {
    const head = req.session === null ? undefined : this.journal.session(req.subject, req.session);
    const expect = head?.head ?? null;
    const parent = req.heap ?? expect;
    if (parent === null) return { parent, parentStep: 0, parentClock: 0, expect, memoryMb: req.limits.memoryMb };
    const object = req.heap === null ? (await this.journal.stateObject(parent, req.subject))! : await this.existingState(req.heap, req.subject);
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
  private async warm(
    key: string,
    head: string | null,
    memoryMb: number,
    waitMs: number,
    path: 'request' | 'standby',
    onReplay?: RunHooks['onReplay'],
  ): Promise<WarmSession> {
    const earlier = this.rebuilds.get(key);
    if (earlier && !(await settlesWithin(earlier, waitMs))) throw stillRebuilding();
    const cached = this.live.take(key);
    const missing = cached && cached.memoryMb === memoryMb ? await this.journal.stepsBetween(cached.head, head) : null;
    const warm = cached && missing ? cached : { live: await this.newSession(key, memoryMb), head: null, memoryMb };
    if (warm !== cached) cached?.live.dispose();
    const steps = missing ?? (await this.journal.stepsBetween(null, head))!;
    if (steps.length === 0) {
      warm.head = head;
      return warm;
    }
    const t0 = performance.now();
    onReplay?.(steps.length);
    const replaying = this.replayInto(warm, steps, head, memoryMb, onReplay);
    // Told when it settles, also after the step stopped waiting for it (then no one listens any more).
    const replayed = replaying.finally(() => onReplay?.(0)).then(
      (rebuilt) => {
        this.observer?.sessionReplayed((performance.now() - t0) / 1000, path);
        rebuilt.head = head;
        return rebuilt;
      },
      (err: unknown) => {
        // Replay runs under the chain's own memory limit; what is left is a journal too big to replay.
        if (err instanceof ReplayStoppedError) throw replayFailed(err, steps, memoryMb);
        // A replayed step asked for a host call its record does not hold: never answered by guessing.
        if (err instanceof SessionDivergedError) throw conflict(err.message);
        return packageUnavailable(err);
      },
    );
    if (!(await settlesWithin(replayed, waitMs))) {
      // Rebuilds without a caller hold no admission slot: past a few at once, one is stopped instead.
      if (this.rebuilds.size >= MAX_BACKGROUND_REBUILDS) {
        warm.live.dispose();
        // One that went on in an isolate of its own (replayInto) is dropped when it ends.
        void replayed.then((rebuilt) => rebuilt.live.dispose(), () => undefined);
        throw unavailable('this node is rebuilding too many sessions at once; retry the step', 1);
      }
      const background = replayed.then(
        (rebuilt) => {
          if (this.closed) rebuilt.live.dispose();
          else this.live.put(key, rebuilt);
        },
        () => undefined,
      );
      this.rebuilds.set(key, background);
      void background.finally(() => {
        if (this.rebuilds.get(key) === background) this.rebuilds.delete(key);
      });
      throw stillRebuilding();
    }
    return replayed;
  }

  /**
   * Replays `steps` into `warm`; resolves with the warm session that then holds their end. In an
   * isolate shared with other sessions, their heap counts against the memory limit too, and a limit
   * one of them hit takes the isolate away: after either the session is rebuilt from its whole
   * journal in an isolate of its own, once, and only a memory limit hit there is the journal's own.
   */
  private async replayInto(warm: WarmSession, steps: Step[], head: string | null, memoryMb: number, onReplay?: RunHooks['onReplay']): Promise<WarmSession> {
    const options = this.maxArtifactBytes === undefined ? {} : { maxArtifactBytes: this.maxArtifactBytes };
    let abandoned = false;
    try {
      await warm.live.replay(steps, options);
      return warm;
    } catch (err) {
      warm.live.dispose();
      // A replay on this thread that did not end as its steps did is made again, asynchronously.
      abandoned = err instanceof ReplayAbandonedError;
      // CPU time is counted per step even in a shared isolate: a replay over its budget is over it alone too.
      const notItsOwn = err instanceof ReplayStoppedError ? err.reason === 'memory_limit' : err instanceof SessionDisposedError;
      if (!abandoned && (!warm.live.shared || !notItsOwn)) throw err;
    }
    const all = (await this.journal.stepsBetween(null, head))!;
    const alone = { live: await LiveSession.create(memoryMb, this.packages), head: null, memoryMb };
    onReplay?.(all.length);
    try {
      await alone.live.replay(all, abandoned ? { ...options, onThisThread: false } : options);
    } catch (err) {
      alone.live.dispose();
      throw err instanceof ReplayStoppedError ? replayFailed(err, all, memoryMb) : err;
    }
    return alone;
  }

  /** A new session context: in an isolate shared with other sessions of its subject when so configured (IsolateShares), else in one of its own. */
  private newSession(key: string, memoryMb: number): Promise<LiveSession> {
    // Only named sessions share, by subject: a fork of a heap is short-lived.
    const group = subjectGroupOfWarmKey(key);
    return LiveSession.create(memoryMb, this.packages, group !== null ? this.shares?.take(group, memoryMb) : undefined);
  }
}

const JOURNAL_PAGE_CHARS = 1 << 20;
const MAX_BACKGROUND_REBUILDS = 4;
/**
 * Standby catch-ups running at once. They hold no admission slot, so they are few: the CPU they take
 * from admitted runs stays bounded. A head committed past this is replayed by the next step here instead.
 */
const MAX_BACKGROUND_CATCHUPS = 2;
/** What a starting node rebuilds: sessions stepped within this long of the newest step in its state, at most this many. */
const RECENT_WINDOW_MS = 10 * 60_000;
const RECENT_MAX = 64;

const stillRebuilding = () =>
  new UserError(503, 'session_rebuilding', 'this session is being rebuilt from its journal on this node, which takes longer than the step\'s time limit; retry the step (the rebuild goes on without it)', 1);

/**
 * A replay stopped by a limit. Its budget is what the steps recorded (with margin) and its memory
 * limit the one they ran under, so this is a real impossibility on this node, said as such.
 */
function replayFailed(err: ReplayStoppedError, steps: Step[], memoryMb: number): UserError {
  if (err.reason === 'memory_limit') {
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

function info(h: { name: string; head: string; steps: number; createdAt: string; updatedAt: string }): SessionInfo {
  return { name: h.name, heap: h.head, steps: h.steps, createdAt: h.createdAt, updatedAt: h.updatedAt };
}

export function pageLimit(limit: number | undefined, fallback: number, max: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw invalidParams(`limit must be an integer from 1 to ${max}`);
  return limit;
}
