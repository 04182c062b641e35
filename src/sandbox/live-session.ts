import ivm from 'isolated-vm';
import { compileStep, StepSyntaxError } from './compile-step.ts';
import { prepareContext, type PreparedContext } from './runtime/bootstrap.ts';
import { compileForRun, guardedCall, runInContext, stepPayload } from './step-runner.ts';
import type { Limits, RunOutcome, Step } from './types.ts';

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

  readonly memoryMb: number;
  private readonly isolate: ivm.Isolate;
  private readonly prepared: PreparedContext;
  private constructor(
    memoryMb: number,
    isolate: ivm.Isolate,
    prepared: PreparedContext,
  ) {
    this.memoryMb = memoryMb;
    this.isolate = isolate;
    this.prepared = prepared;
  }

  static async create(memoryMb: number): Promise<LiveSession> {
    const isolate = new ivm.Isolate({ memoryLimit: memoryMb });
    try {
      return new LiveSession(memoryMb, isolate, await prepareContext(isolate, false, memoryMb));
    } catch (err) {
      isolate.dispose();
      throw err;
    }
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
  }

  /** Re-runs steps in order; their errors are expected and ignored (they were part of the journal). */
  replay(steps: Step[], options: ReplayOptions = {}): Promise<void> {
    return this.#serialized(async () => {
      this.#assertUsable();
      const compiled = await Promise.all(
        steps.map((step) =>
          compileStep(step.code, step.language).then(
            (c) => stepPayload(step, c, REPLAY_OUTPUT_BYTES),
            (err: unknown) => {
              // A step that did not compile ran nothing; replaying it is a no-op.
              if (err instanceof StepSyntaxError) return null;
              throw err;
            },
          ),
        ),
      );
      const payloads = compiled.filter((p) => p !== null);
      const budget = options.cpuTimeoutMs ?? DEFAULT_REPLAY_CPU_MS;
      const call = await guardedCall(this.isolate, this.prepared, { cpuTimeoutMs: budget, wallTimeoutMs: 2 * budget }, undefined, {
        command: 'replay',
        payload: payloads,
      });
      if (!call.ok) {
        this.dispose();
        throw new SessionDisposedError(`Replay stopped: ${call.status}`);
      }
    });
  }

  /** `limits.memoryMb` is fixed when the session is created; create a new session to change it. */
  run(step: Step, limits: Limits, signal?: AbortSignal): Promise<RunOutcome> {
    return this.#serialized(async () => {
      this.#assertUsable();
      const compilation = await compileForRun(step);
      if ('outcome' in compilation) return compilation.outcome;
      const run = await runInContext(this.isolate, this.prepared, step, compilation.compiled, { ...limits, memoryMb: this.memoryMb }, signal);
      if (run.kind === 'tainted') throw new Error('unreachable: session contexts are never locked down');
      if (!run.isolateReusable) this.dispose();
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

  #assertUsable(): void {
    if (this.disposed) throw new SessionDisposedError('The session isolate is disposed; rebuild it by replay');
  }

  #serialized<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
