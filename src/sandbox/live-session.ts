import ivm from 'isolated-vm';
import { compileStep, StepSyntaxError } from './compile-step.ts';
import { captureRuntimeCodeCache, prepareContext, type PreparedContext } from './runtime/bootstrap.ts';
import { IsolateShare } from './isolate-share.ts';
import { PackageSet, type ResolvedModules } from './packages/package-set.ts';
import { compileForRun, defineModulesOrDispose, guardedCall, replayOnThisThread, runInContext, stepPayload, type StepPayload } from './step-runner.ts';
import { ReplayedHostCalls, SessionDivergedError } from './host-calls/replayed-calls.ts';
import { threadStackMatches } from './thread-stack.ts';
import type { HostCallPerformer } from './host-calls/types.ts';
import { DEFAULT_MAX_ARTIFACT_BYTES, type Limits, type PackageRef, type RunHooks, type RunOutcome, type Step } from './types.ts';

export interface ReplayOptions {
  /** CPU budget for the whole replay (default: replayBudgetMs of the steps); exceeding it disposes the session. */
  cpuTimeoutMs?: number;
  /**
   * The artifact budget the steps ran under (default DEFAULT_MAX_ARTIFACT_BYTES): a step that went
   * over it throws there again. Replayed artifacts go nowhere.
   */
  maxArtifactBytes?: number;
  /** false: make the replay asynchronously even where its steps allow one on this thread (`replaysOnThisThread`). */
  onThisThread?: boolean;
}

/** Raised when a session cannot be used: disposed (by its owner, or by a limit another session of its isolate hit), or its replay hit a limit. */
export class SessionDisposedError extends Error {
  override readonly name = 'SessionDisposedError';
}

/** A replay stopped by a limit (memory, CPU): the session is disposed. */
export class ReplayStoppedError extends SessionDisposedError {
  readonly reason: 'timeout' | 'cancelled' | 'memory_limit' | 'failed';
  /** Whether the isolate was shared: then other sessions' heap counted against the memory limit too. */
  readonly shared: boolean;
  constructor(reason: ReplayStoppedError['reason'], shared: boolean) {
    super(`Replay stopped: ${reason}`);
    this.reason = reason;
    this.shared = shared;
  }
}

/** How a replay's call ended: the CPU its steps took, or why the session must go. */
type ReplayEnd = { ok: true; cpuMs: number } | { ok: false; error: SessionDisposedError };

/**
 * A replay made on the node's own thread that did not end as its steps did live (one did not settle
 * within its call, or it ran past its time): the session is disposed, and a rebuild makes the replay
 * asynchronously instead (`onThisThread: false`), under its usual budget.
 */
export class ReplayAbandonedError extends SessionDisposedError {}

/**
 * Whether a replay of `steps` is made with synchronous calls on this thread (step-runner.ts
 * `replayOnThisThread`): every step ran live in one task, and all of them took little CPU, since the
 * node's event loop waits for them. A standby's catch-up is one or two such steps as a rule.
 */
export function replaysOnThisThread(steps: readonly Step[]): boolean {
  let recorded = 0;
  for (const step of steps) {
    if (step.oneTask !== true || step.cpuMs === undefined || step.hostCalls) return false;
    recorded += step.cpuMs;
  }
  return recorded <= ON_THREAD_MAX_CPU_MS;
}
const ON_THREAD_MAX_CPU_MS = 2;
// Its wall time may pass its CPU on a loaded machine (the thread waits for a core): past this a replay
// is abandoned, and made again asynchronously. Well within a Raft heartbeat tick (50 ms) and election (500 ms).
const ON_THREAD_TIMEOUT_MS = 50;
// Twice the default memory limit (64 MB); an idle session's heap is ~2.5 MB.
const ON_THREAD_MAX_MEMORY_MB = 128;

// A step replays the same code on the same inputs: its CPU is what it used when it ran, give or
// take the machine's load. The margin covers a busier or slower node; the floor, compiling and
// the replay's own work. A step recorded before CPU was journaled gets the largest time limit a
// step may have had.
const REPLAY_MARGIN = 3;
const REPLAY_FLOOR_MS = 1_000;
const UNRECORDED_STEP_MS = 300_000;
const MAX_BUDGET_MS = 2 ** 27;
const REPLAY_WALL_FACTOR = 10;

/** The CPU a replay of `steps` may take: what they used when they ran, with margin. */
export function replayBudgetMs(steps: readonly Step[]): number {
  let recorded = 0;
  for (const step of steps) recorded += step.cpuMs ?? UNRECORDED_STEP_MS;
  // Whole milliseconds, within what isolated-vm and timers take (with the wall deadline at ten times it).
  return Math.min(Math.ceil(REPLAY_FLOOR_MS + REPLAY_MARGIN * recorded), MAX_BUDGET_MS);
}
// Console output of replayed steps is thrown away; this only bounds its buffer.
const REPLAY_OUTPUT_BYTES = 1 << 20;

/**
 * A context holding a session's state across steps, in an isolate of its own or one it shares with
 * other sessions of its subject (IsolateShare). Runs are serialized (with those of the sessions it
 * shares with). After a timeout, memory blow-up or cancel the isolate is gone (`disposed`, for every
 * session in it): the owner rebuilds a new session by `replay` of the journal, since how far the
 * stopped step got cannot be reproduced.
 */
export class LiveSession {
  #left = false;
  /** The bundle each module name resolved to in the latest step of this isolate that imported it: the session keeps them. */
  readonly #pins = new Map<string, PackageRef>();
  /** The steps this isolate holds (run or replayed) and the CPU they took here: what a rebuild would redo. */
  readonly #history = { steps: 0, cpuMs: 0 };

  readonly memoryMb: number;
  private readonly isolate: ivm.Isolate;
  private readonly share: IsolateShare;
  private readonly prepared: PreparedContext;
  private readonly packages: PackageSet;
  private constructor(
    memoryMb: number,
    share: IsolateShare,
    prepared: PreparedContext,
    packages: PackageSet,
  ) {
    this.memoryMb = memoryMb;
    this.share = share;
    this.isolate = share.isolate;
    this.prepared = prepared;
    this.packages = packages;
  }

  /**
   * `packages`: what its steps may import (default: nothing). `share`: an isolate shared with other
   * sessions, joined already, whose memory limit is `memoryMb` (default: an isolate of its own).
   */
  static async create(memoryMb: number, packages: PackageSet = PackageSet.none(), share?: IsolateShare): Promise<LiveSession> {
    // Before any session's isolate exists: V8 takes its stack limit when an isolate first enters this thread.
    threadStackMatches();
    // Once per process; a failed warm-up is tried again by the next session.
    runtimeWarm ??= LiveSession.#warm().catch((err: unknown) => {
      runtimeWarm = undefined;
      throw err;
    });
    try {
      await runtimeWarm;
    } catch (err) {
      share?.leave();
      throw err;
    }
    return LiveSession.#open(memoryMb, packages, share);
  }

  static async #open(memoryMb: number, packages: PackageSet, given?: IsolateShare): Promise<LiveSession> {
    if (given && given.memoryMb !== memoryMb) {
      given.leave();
      throw new Error(`a session of ${memoryMb} MB cannot join an isolate of ${given.memoryMb} MB`);
    }
    const share = given ?? joined(new IsolateShare(memoryMb));
    try {
      // In the share's turn: a context made while another session's step runs would wait for it anyway.
      const prepared = await share.serialized(() => prepareContext(share.isolate, false, memoryMb));
      return new LiveSession(memoryMb, share, prepared, packages);
    } catch (err) {
      share.leave();
      throw err;
    }
  }

  get disposed(): boolean {
    return this.#left || this.isolate.isDisposed;
  }

  /** Whether its isolate may hold other sessions' contexts too. */
  get shared(): boolean {
    return this.share.shared;
  }

  /**
   * Re-runs steps in order; their errors are expected and ignored (they were part of the journal).
   * Each step's imports resolve to the bundles it recorded; one this node lacks is a
   * PackageUnavailableError before anything runs. Host calls are answered from each step's record
   * and never performed; a step that asks for something else stops the replay with a
   * SessionDivergedError (the session is disposed).
   */
  replay(steps: Step[], options: ReplayOptions = {}): Promise<void> {
    return this.#serialized(async () => {
      this.#assertUsable();
      let diverged: SessionDivergedError | null = null;
      const scopes: number[] = [];
      const onDiverged = (error: SessionDivergedError) => {
        diverged ??= error;
        // Not from inside the isolate's callback that found it.
        setImmediate(() => this.dispose());
      };
      const compiled = await Promise.all(
        steps.map(async (step, index) => {
          let c;
          try {
            c = await compileStep(step.code, step.language);
          } catch (err) {
            // A step that did not compile ran nothing; replaying it is a no-op.
            if (err instanceof StepSyntaxError) return null;
            throw err;
          }
          const modules = c.modules.length > 0 || step.packages ? await this.packages.replayed(step.packages ?? [], c.modules) : null;
          const budgets = { maxOutputBytes: REPLAY_OUTPUT_BYTES, maxArtifactBytes: options.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES };
          const records = step.hostCalls ?? [];
          const scope = this.prepared.hostCalls.open((deliver) => new ReplayedHostCalls(index + 1, records, deliver, onDiverged));
          scopes.push(scope);
          return { payload: stepPayload(step, c, budgets, modules, scope), modules };
        }),
      );
      const replayed = compiled.filter((p) => p !== null);
      const bundles = replayed.flatMap((p) => p.modules?.bundles ?? []);
      if (bundles.length > 0 && !(await defineModulesOrDispose(this.isolate, this.prepared, { bundles, bindings: {}, errors: {}, refs: [] }))) {
        throw new ReplayStoppedError('memory_limit', this.share.shared);
      }
      for (const p of replayed) this.#pin(p.modules);
      const payloads = replayed.map((p) => p.payload);
      let ended: ReplayEnd;
      try {
        // A garbage collection of a large heap can hold a thread far longer than the steps' CPU, and V8
        // collects when it sees fit, not where the live run did: only a small heap is replayed into here.
        const here = options.onThisThread !== false && this.memoryMb <= ON_THREAD_MAX_MEMORY_MB && threadStackMatches() && replaysOnThisThread(steps);
        ended = here ? this.#replayOnThisThread(payloads) : await this.#replayAsync(payloads, options.cpuTimeoutMs ?? replayBudgetMs(steps));
      } finally {
        for (const scope of scopes) this.prepared.hostCalls.close(scope);
      }
      if (diverged !== null) {
        this.dispose();
        throw diverged;
      }
      if (!ended.ok) {
        this.dispose();
        throw ended.error;
      }
      this.#history.steps += payloads.length;
      this.#history.cpuMs += ended.cpuMs;
    });
  }

  #replayOnThisThread(payloads: StepPayload[]): ReplayEnd {
    const done = replayOnThisThread(this.isolate, this.prepared, payloads, ON_THREAD_TIMEOUT_MS);
    if (done.ok) return done;
    const error = done.status === 'memory_limit' ? new ReplayStoppedError('memory_limit', this.share.shared) : new ReplayAbandonedError('Replay abandoned: a step did not end as it did live');
    return { ok: false, error };
  }

  async #replayAsync(payloads: StepPayload[], budget: number): Promise<ReplayEnd> {
    // A replay awaits nothing real (its steps' timers run on their virtual clocks), so its wall
    // time is its CPU stretched by the machine's load: the wall limit only catches a stuck isolate.
    const call = await guardedCall(this.isolate, this.prepared, { cpuTimeoutMs: budget, wallTimeoutMs: REPLAY_WALL_FACTOR * budget }, undefined, {
      command: 'replay',
      payload: payloads,
    });
    return call.ok ? { ok: true, cpuMs: call.cpuMs } : { ok: false, error: new ReplayStoppedError(call.status, this.share.shared) };
  }

  /**
   * `limits.memoryMb` is fixed when the session is created; create a new session to change it.
   * `upgradePackages`: the step's imports resolve to the node's current bundles instead of the ones the
   * session pinned, and the session keeps those from then on (the outcome records them, so a replay
   * rebuilds the same order of versions). `hooks` hear the step's console as it runs.
   */
  run(step: Step, limits: Limits, signal?: AbortSignal, hostCalls?: HostCallPerformer, options: { upgradePackages?: boolean; hooks?: RunHooks } = {}): Promise<RunOutcome> {
    return this.#serialized(async () => {
      this.#assertUsable();
      const compilation = await compileForRun(step);
      if ('outcome' in compilation) return compilation.outcome;
      const { compiled } = compilation;
      // Throws PackageUnavailableError (nothing ran) when an earlier step pinned a bundle this node lacks.
      const pins = options.upgradePackages ? new Map<string, PackageRef>() : this.#pins;
      const modules = compiled.modules.length > 0 ? await this.packages.resolve(compiled.modules, pins) : null;
      let run;
      try {
        run = await runInContext(this.isolate, this.prepared, step, compiled, { ...limits, memoryMb: this.memoryMb }, signal, modules, options.hooks, hostCalls);
      } catch (err) {
        this.dispose();
        throw err;
      }
      if (run.kind === 'tainted') throw new Error('unreachable: session contexts are never locked down');
      if (!run.isolateReusable) this.dispose();
      else {
        this.#pin(modules);
        this.#history.steps++;
        this.#history.cpuMs += run.outcome.cpuMs;
      }
      return run.outcome;
    });
  }

  /**
   * Milliseconds a rebuild of this state by replay would take, estimated from what this isolate ran:
   * a new session (~3.2 ms, bench/sandbox.ts), each step's CPU as measured here, and the host's part
   * of replaying a step (~0.1 ms: a replay of 100 small steps takes 7–15 ms).
   */
  rebuildMs(): number {
    return NEW_SESSION_MS + this.#history.cpuMs + REPLAY_HOST_MS_PER_STEP * this.#history.steps;
  }

  /**
   * Bytes of heap in memory that keeping this session warm costs, far less than its limit as a rule:
   * its isolate's, or its part of a shared one's (IsolateShare.heapBytes).
   */
  heapBytes(): number {
    return this.#left ? 0 : this.share.heapBytes();
  }

  /**
   * Gives the context up, and the isolate once no other session holds a context in it: disposing an
   * isolate of its own also stops a run going on in it; in a shared one such a run ends on its limits.
   */
  dispose(): void {
    if (this.#left) return;
    this.#left = true;
    if (!this.isolate.isDisposed) this.prepared.release();
    this.share.leave();
  }

  /** The latest step's bundle of a name is the pin: a step either used the pin or upgraded it. */
  #pin(modules: ResolvedModules | null): void {
    for (const ref of modules?.refs ?? []) this.#pins.set(ref.name, ref);
  }

  #assertUsable(): void {
    if (this.disposed) throw new SessionDisposedError('The session isolate is disposed; rebuild it by replay');
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    return this.share.serialized(task);
  }

  /**
   * A throwaway session runs the runtime's common paths (a value, console output, an await, a
   * throw), then the runtime's code cache is made from its isolate, so that every later session
   * starts with those functions compiled (runtime/bootstrap.ts `captureRuntimeCodeCache`).
   */
  static async #warm(): Promise<void> {
    const session = await LiveSession.#open(WARM_UP_LIMITS.memoryMb, PackageSet.none());
    try {
      for (const [index, code] of WARM_UP_STEPS.entries()) {
        await session.run({ code, language: 'js', seed: 'runtime warm-up', clock: index }, WARM_UP_LIMITS);
      }
      await captureRuntimeCodeCache(session.isolate);
    } finally {
      session.dispose();
    }
  }
}

/** A new share, with its first member (the caller) in it. */
function joined(share: IsolateShare): IsolateShare {
  share.join();
  return share;
}

const NEW_SESSION_MS = 3.2;
const REPLAY_HOST_MS_PER_STEP = 0.1;
let runtimeWarm: Promise<void> | undefined;
const WARM_UP_STEPS = ['const warm = [1, 2];\nconsole.log(warm);\nwarm.length', 'await Promise.resolve(warm)', "throw new Error('warm-up')"];
const WARM_UP_LIMITS: Limits = { memoryMb: 32, cpuTimeoutMs: 5_000, wallTimeoutMs: 10_000, maxOutputBytes: 4_096 };
