import { conflict, notFound, UserError } from '../errors.ts';
import { newStepSeed, PackageUnavailableError, SessionDisposedError, type HostCallPerformer, type Limits, type RunHooks, type RunOutcome, type Step, type StepInputs } from '../sandbox/index.ts';
import { journalInputs } from './journal-inputs.ts';
import type { CommandLog } from '../store/index.ts';
import type { KeyedMutex } from './keyed-mutex.ts';
import type { LiveSessions, WarmSession } from './live-sessions.ts';
import { stateId, type StateObject, type Language, type StepCommand, type StepVerdict } from './session-state.ts';
import { StepClaim } from './step-claim.ts';

/** A step asked of a session or forked from a state, as checked by the caller (names and limits valid). */
export interface StepRequest {
  code: string;
  language: Language;
  session: string | null;
  heap: string | null;
  subject: string | null;
  limits: Limits;
  /** What the request handed in (null: nothing): the step reads it as `inputs`, and its journal entry keeps it. */
  inputs?: StepInputs | null;
  /**
   * Whether the caller chose `limits.memoryMb`. A chain's memory limit is fixed by its first step
   * (replay must run under the limit the steps ran under, or a step that fitted could now fail), so
   * an explicit different value is refused and an implicit one is replaced by the chain's.
   */
  memoryExplicit: boolean;
  /** Import the newest approved version of each package the step imports, not the one the session pinned (see LiveSession.run). */
  upgradePackages?: boolean;
}

/** Where a step starts: the state it runs on, the head it expects the session to have, its chain's memory limit. */
export interface StartingPoint {
  parent: string | null;
  parentStep: number;
  parentClock: number;
  expect: string | null;
  memoryMb: number;
}

/** What one run of the step did, before anything is committed. */
export interface StepRun {
  outcome: RunOutcome;
  /** The step completed or threw, so it moves the session (once committed); false after a timeout, memory cap or cancel. */
  advances: boolean;
  session: string | null;
  /** The state after the step; when it does not advance, the unchanged state the step was tried on. */
  heap: string | null;
  step: number | null;
}

/** What a step needs of the node's session service. */
export interface StepContext {
  readonly commandLog: CommandLog;
  readonly mutex: KeyedMutex;
  readonly live: LiveSessions;
  readonly maxAttempts: number;
  /** Named in the claims this node's steps take before their first external call. */
  readonly nodeId: string;
  startingPoint(req: StepRequest): Promise<StartingPoint>;
  warm(key: string, head: string | null, memoryMb: number, waitMs: number, onReplay?: RunHooks['onReplay']): Promise<WarmSession>;
  /** Waits up to `waitMs` for a rebuild of the session going on without a caller, else throws 503 session_rebuilding. */
  behindRebuild(key: string, waitMs: number): Promise<void>;
}

const ADVANCES: ReadonlySet<RunOutcome['status']> = new Set(['completed', 'failed']);
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
 * One step being taken on a session, driven by its caller in order: `run` (wait for the session's
 * turn on this node, bring a warm isolate to the head, run the code), then propose `command` (alone,
 * or inside a command that commits more with it) and hand the verdict to `settle`. A verdict of
 * "the head moved" means another node's step won the compare-and-set: `run` again, on the new head.
 * `close` always, at the end. See docs/sessions.md for why CAS rather than per-session ownership.
 */
export class SessionStep {
  private attempts = 0;
  /** Ends this step's turn on the session (steps of one session on one node queue instead of racing each other's CAS). */
  private endTurn: (() => void) | undefined;
  /** The isolate of the latest run and the state it would hold once committed, until it is kept or dropped. */
  private ran: { warm: WarmSession; warmKey: string; command: StepCommand; from: StartingPoint; claim: StepClaim | null; calledOut: boolean } | undefined;
  /** Another step held the session when this one last tried: wait a little before running again. */
  private blocked = false;

  private readonly ctx: StepContext;
  private readonly req: StepRequest;
  private readonly sessionKey: string | null;
  constructor(ctx: StepContext, req: StepRequest) {
    this.ctx = ctx;
    this.req = req;
    this.sessionKey = req.session === null ? null : warmKeyOfSession(req.subject, req.session);
  }

  /**
   * Runs the step on the session's current head; a step that advances is ready to commit as `command`.
   * `hostCalls` performs its external calls (`fetch`): on a named session the first one takes the
   * session's claim first (StepClaim), so a step that has called out is never run again. `hooks` hear
   * the console of the first attempt only (a step run again after a refused claim would repeat it).
   */
  async run(signal?: AbortSignal, hostCalls?: HostCallPerformer, hooks?: RunHooks): Promise<StepRun> {
    for (let first = true; ; first = false) {
      const tried = await this.runOnce(signal, hostCalls, first ? hooks : undefined);
      if (tried !== 'again') return tried;
    }
  }

  private async runOnce(signal: AbortSignal | undefined, hostCalls: HostCallPerformer | undefined, hooks: RunHooks | undefined): Promise<StepRun | 'again'> {
    const req = this.req;
    if (this.blocked) {
      this.blocked = false;
      await delay(BLOCKED_RETRY_MS * this.attempts, signal);
    }
    if (this.attempts === 0 && this.sessionKey !== null) {
      // A background rebuild holds the session's turn: wait for it within this step's own limit, as for one on its path.
      await this.ctx.behindRebuild(this.sessionKey, req.limits.wallTimeoutMs);
      const endTurn = await this.ctx.mutex.lock(this.sessionKey, signal);
      if (endTurn === null) return { outcome: NOT_STARTED, advances: false, session: req.session, heap: null, step: null };
      this.endTurn = endTurn;
    }
    this.drop();
    // The head this node has applied, once it applied every entry it knows to be committed: no round
    // trip to the leader (it cost ~1 ms of CPU per step across the nodes). The commit's compare-and-set
    // on the head decides, so a stale head (this node had not yet heard of a step committed elsewhere)
    // costs a run and a rebuild, never a lost or forked step. A node that knows no leader answers 503
    // before running anything. After a lost CAS this node has applied the winner already.
    if (this.attempts++ === 0 && req.session !== null) await this.ctx.commandLog.localRead();
    const from = await this.ctx.startingPoint(req);
    const warm = await this.ctx.warm(this.sessionKey ?? warmKeyOfHeap(from.parent), from.parent, from.memoryMb, req.limits.wallTimeoutMs, hooks?.onReplay);
    // Never behind the parent's clock: Date.now() in a session does not go back when the next step
    // runs on a node whose clock is behind.
    const input = { code: req.code, language: req.language, seed: newStepSeed(), clock: Math.max(Date.now(), from.parentClock + 1) } satisfies Step;
    const claim =
      hostCalls !== undefined && req.session !== null
        ? new StepClaim(this.ctx.commandLog, { session: req.session, subject: req.subject, expect: from.expect, node: this.ctx.nodeId }, req.limits.wallTimeoutMs)
        : null;
    let outcome: RunOutcome;
    try {
      const withInputs = req.inputs ? { ...input, inputs: req.inputs } : input;
      const options = { upgradePackages: req.upgradePackages === true, ...(hooks ? { hooks } : {}) };
      outcome = await warm.live.run(withInputs, { ...req.limits, memoryMb: from.memoryMb }, signal, claim ? claim.guard(hostCalls!) : hostCalls, options).catch(packageUnavailable);
    } catch (err) {
      warm.live.dispose();
      void claim?.release();
      // Its isolate, shared with other sessions, went with a limit one of them hit before this step
      // started (IsolateShare): nothing ran, the journal rebuilds the session.
      if (err instanceof SessionDisposedError && this.attempts < this.ctx.maxAttempts) return 'again';
      throw err;
    }
    const refusal = claim?.refusal ?? null;
    if (refusal !== null) {
      // Nothing was sent: the claim comes before the first call. Run again on the head that moved
      // (this node applied it with the refusal), or once the step holding the session is done.
      warm.live.dispose();
      if (this.attempts >= this.ctx.maxAttempts) {
        throw conflict(`session ${req.session} ${refusal.reason === 'moved' ? 'kept moving under this step' : `is held by a step on node ${refusal.node}`} (${this.attempts} attempts); retry it`);
      }
      this.blocked = refusal.reason === 'claimed';
      return 'again';
    }
    if (!ADVANCES.has(outcome.status)) {
      // The isolate ran something the journal will not have: drop it, the journal rebuilds it.
      warm.live.dispose();
      void claim?.release();
      return { outcome, advances: false, session: req.session, heap: from.parent, step: null };
    }
    const records = outcome.hostCalls ?? [];
    const object: StateObject = {
      parent: from.parent,
      step: from.parentStep + 1,
      ...input,
      memoryMb: from.memoryMb,
      subject: req.subject,
      threw: outcome.status === 'failed',
      createdAt: new Date(input.clock).toISOString(),
      // What a replay of this step may be given: the CPU it took (whole microseconds).
      cpuMs: Math.round(outcome.cpuMs * 1000) / 1000,
      ...(outcome.packages ? { packages: outcome.packages.map(({ name, version, hash }) => ({ name, version, hash })) } : {}),
      ...(req.inputs ? { inputs: journalInputs(req.inputs) } : {}),
      ...(records.length > 0 ? { hostCalls: records.length } : {}),
      ...(outcome.oneTask ? { oneTask: true as const } : {}),
    };
    const id = stateId(object);
    const command: StepCommand = {
      type: 'session.step',
      heap: id,
      object,
      session: req.session,
      expect: from.expect,
      subject: req.subject,
      ...(records.length > 0 ? { hostCalls: records } : {}),
      ...(claim?.held ? { claim: claim.id } : {}),
      at: Date.now(),
    };
    this.ran = { warm, warmKey: this.sessionKey ?? warmKeyOfHeap(id), command, from, claim, calledOut: records.length > 0 || claim?.held === true };
    return { outcome, advances: true, session: req.session, heap: id, step: object.step };
  }

  /** The command that commits the latest run (compare-and-set on the head it ran on). */
  get command(): StepCommand {
    if (!this.ran) throw new Error('no run of this step is waiting to commit');
    return this.ran.command;
  }

  /**
   * What the log answered to `command`: true when the step is in the journal (its isolate stays warm,
   * holding the new head); false when the head moved under it, so it must `run` again. A refusal
   * that another run would not cure is thrown.
   */
  settle(verdict: StepVerdict): boolean {
    const ran = this.ran;
    if (!ran) throw new Error('no run of this step is waiting to commit');
    if (verdict.ok) {
      if (!verdict.duplicate) {
        ran.warm.head = ran.command.heap;
        this.ctx.live.put(ran.warmKey, ran.warm);
        this.ran = undefined;
      }
      return true;
    }
    if (ran.calledOut) {
      // Its requests went out: running it again would send them again.
      void ran.claim?.release();
      throw conflict(
        `this step made external calls, so it is not run again; its commit was refused (${verdict.reason === 'claimed' ? `its claim on the session expired and a step on node ${verdict.node} holds it` : verdict.reason}): the session is unchanged`,
      );
    }
    if (verdict.reason === 'no_heap') throw notFound(`heap ${this.req.heap ?? ran.from.parent} not found`);
    if (verdict.reason === 'claimed') {
      // A step that makes external calls holds the session: this one made none, so it runs again once that one is done.
      if (this.attempts >= this.ctx.maxAttempts) throw conflict(`session ${this.req.session} is held by a step on node ${verdict.node} (${this.attempts} attempts); retry it`);
      this.blocked = true;
      return false;
    }
    // Retrying on an empty head would bring a deleted session back under its name.
    if (verdict.head === null && ran.from.expect !== null) {
      throw conflict(`session ${this.req.session} was deleted while this step ran; the step was not recorded`);
    }
    if (this.attempts >= this.ctx.maxAttempts) {
      throw conflict(`session ${this.req.session} kept moving under this step (${this.attempts} attempts); retry it`);
    }
    return false;
  }

  /** Ends the step: its turn passes to the session's next step on this node. */
  close(): void {
    this.drop();
    this.endTurn?.();
    this.endTurn = undefined;
  }

  /**
   * Unless it went back holding a committed head, the isolate ran something the journal does not
   * have (a lost CAS, a commit that failed): drop it, the journal rebuilds it.
   */
  private drop(): void {
    this.ran?.warm.live.dispose();
    // A claim whose step did not commit (its proposal failed): give the session back before it expires.
    void this.ran?.claim?.release();
    this.ran = undefined;
  }
}

/** A bundle the session's journal names is missing on this node: the caller is told which, nothing ran. */
export function packageUnavailable(err: unknown): never {
  if (err instanceof PackageUnavailableError) throw new UserError(409, 'package_unavailable', err.message);
  throw err;
}

/** Times the attempt number: a step that found its session held waits this much longer each time. */
const BLOCKED_RETRY_MS = 100;

function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

export const warmKeyOfSession = (subject: string | null, name: string) => `session:${subject ?? ''}\u0000${name}`;
/** The subject part of a session's warm key (sessions whose contexts may share an isolate); null for a fork of a heap. */
export const subjectGroupOfWarmKey = (key: string): string | null => (key.startsWith('session:') ? key.slice(0, key.indexOf('\u0000')) : null);
const warmKeyOfHeap = (heap: string | null) => `heap:${heap}`;
