import ivm from 'isolated-vm';
import { compileStep, StepSyntaxError } from './compile-step.ts';
import { prepareContext, type PreparedContext } from './runtime/bootstrap.ts';
import { PackageSet, type ResolvedModules } from './packages/package-set.ts';
import { compileForRun, defineModulesOrDispose, guardedCall, runInContext, stepPayload } from './step-runner.ts';
import { ReplayedHostCalls, SessionDivergedError } from './host-calls/replayed-calls.ts';
import type { HostCallPerformer } from './host-calls/types.ts';
import type { Limits, PackageRef, RunOutcome, Step } from './types.ts';

export interface ReplayOptions {
  /** CPU budget for the whole replay (default 60 s); exceeding it disposes the session. */
  cpuTimeoutMs?: number;
}

/** Raised when a session cannot be used: disposed, or its replay hit a limit. */
export class SessionDisposedError extends Error {
  override readonly name = 'SessionDisposedError';
}

const DEFAULT_REPLAY_CPU_MS = 60_000;
// Console output of replayed steps is thrown away; this only bounds its buffer.
const REPLAY_OUTPUT_BYTES = 1 << 20;

/**
 * One isolate + context holding a session's state across steps. Runs are serialized. After a
 * timeout, memory blow-up or cancel the isolate is gone (`disposed`): the owner rebuilds a new
 * session by `replay` of the journal, since how far the stopped step got cannot be reproduced.
 */
export class LiveSession {
  #tail: Promise<unknown> = Promise.resolve();
  /** The bundle each module name resolved to in the steps this isolate holds: the session keeps them. */
  readonly #pins = new Map<string, PackageRef>();

  readonly memoryMb: number;
  private readonly isolate: ivm.Isolate;
  private readonly prepared: PreparedContext;
  private readonly packages: PackageSet;
  private constructor(
    memoryMb: number,
    isolate: ivm.Isolate,
    prepared: PreparedContext,
    packages: PackageSet,
  ) {
    this.memoryMb = memoryMb;
    this.isolate = isolate;
    this.prepared = prepared;
    this.packages = packages;
  }

  /** `packages`: what its steps may import (default: nothing). */
  static async create(memoryMb: number, packages: PackageSet = PackageSet.none()): Promise<LiveSession> {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    try {
      return new LiveSession(memoryMb, isolate, await prepareContext(isolate, false, memoryMb), packages);
    } catch (err) {
      isolate.dispose();
      throw err;
    }
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
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
          const records = step.hostCalls ?? [];
          const scope = this.prepared.hostCalls.open((deliver) => new ReplayedHostCalls(index + 1, records, deliver, onDiverged));
          scopes.push(scope);
          return { payload: stepPayload(step, c, REPLAY_OUTPUT_BYTES, modules, scope), modules };
        }),
      );
      const replayed = compiled.filter((p) => p !== null);
      const bundles = replayed.flatMap((p) => p.modules?.bundles ?? []);
      if (bundles.length > 0 && !(await defineModulesOrDispose(this.isolate, this.prepared, { bundles, bindings: {}, errors: {}, refs: [] }))) {
        throw new SessionDisposedError('Replay stopped: memory_limit');
      }
      for (const p of replayed) this.#pin(p.modules);
      const payloads = replayed.map((p) => p.payload);
      const budget = options.cpuTimeoutMs ?? DEFAULT_REPLAY_CPU_MS;
      const call = await guardedCall(this.isolate, this.prepared, { cpuTimeoutMs: budget, wallTimeoutMs: 2 * budget }, undefined, {
        command: 'replay',
        payload: payloads,
      }).finally(() => {
        for (const scope of scopes) this.prepared.hostCalls.close(scope);
      });
      if (diverged !== null) {
        this.dispose();
        throw diverged;
      }
      if (!call.ok) {
        this.dispose();
        throw new SessionDisposedError(`Replay stopped: ${call.status}`);
      }
    });
  }

  /** `limits.memoryMb` is fixed when the session is created; create a new session to change it. */
  run(step: Step, limits: Limits, signal?: AbortSignal, hostCalls?: HostCallPerformer): Promise<RunOutcome> {
    return this.#serialized(async () => {
      this.#assertUsable();
      const compilation = await compileForRun(step);
      if ('outcome' in compilation) return compilation.outcome;
      const { compiled } = compilation;
      // Throws PackageUnavailableError (nothing ran) when an earlier step pinned a bundle this node lacks.
      const modules = compiled.modules.length > 0 ? await this.packages.resolve(compiled.modules, this.#pins) : null;
      let run;
      try {
        run = await runInContext(this.isolate, this.prepared, step, compiled, { ...limits, memoryMb: this.memoryMb }, signal, modules, hostCalls);
      } catch (err) {
        this.dispose();
        throw err;
      }
      if (run.kind === 'tainted') throw new Error('unreachable: session contexts are never locked down');
      if (!run.isolateReusable) this.dispose();
      else this.#pin(modules);
      return run.outcome;
    });
  }

  /** Bytes the isolate's heap holds now: what keeping it warm costs, far less than its limit as a rule. */
  heapBytes(): number {
    if (this.isolate.isDisposed) return 0;
    const heap = this.isolate.getHeapStatisticsSync();
    return heap.total_heap_size + heap.externally_allocated_size;
  }

  dispose(): void {
    if (this.isolate.isDisposed) return;
    this.prepared.release();
    this.isolate.dispose();
  }

  #pin(modules: ResolvedModules | null): void {
    for (const ref of modules?.refs ?? []) if (!this.#pins.has(ref.name)) this.#pins.set(ref.name, ref);
  }

  #assertUsable(): void {
    if (this.disposed) throw new SessionDisposedError('The session isolate is disposed; rebuild it by replay');
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
