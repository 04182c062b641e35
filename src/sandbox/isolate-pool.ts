import { availableParallelism } from 'node:os';
import ivm from 'isolated-vm';
import { prepareContext, type PreparedContext } from './runtime/bootstrap.ts';
import { PackageSet } from './packages/package-set.ts';
import { compileForRun, runInContext, stoppedOutcome } from './step-runner.ts';
import type { HostCallPerformer } from './host-calls/types.ts';
import type { Limits, RunOutcome, Step } from './types.ts';

export interface IsolatePoolOptions {
  /** Isolates alive at once, idle or busy (default: 2 × CPUs). Runs beyond that wait in FIFO order. */
  maxIsolates?: number;
  /** A pooled context is replaced after this many runs, bounding whatever garbage runs leave behind. */
  runsPerContext?: number;
  /** What runs may import (default: nothing). */
  packages?: PackageSet;
}

export interface IsolatePoolStats {
  isolates: number;
  idle: number;
  waiting: number;
}

/**
 * One isolate of the pool with its next context prepared ahead of time, so that replacing a context
 * (after a limit was hit, or every `runsPerContext` runs) happens off the caller's path.
 */
class PoolMember {
  runs = 0;
  #context: Promise<PreparedContext>;

  readonly isolate: ivm.Isolate;
  readonly memoryMb: number;
  constructor(
    isolate: ivm.Isolate,
    memoryMb: number,
  ) {
    this.isolate = isolate;
    this.memoryMb = memoryMb;
    this.#context = this.#prepare();
  }

  context(): Promise<PreparedContext> {
    return this.#context;
  }

  renewContext(): void {
    const old = this.#context;
    this.runs = 0;
    this.#context = this.#prepare();
    void old.then((c) => c.release()).catch(() => undefined);
  }

  dispose(): void {
    if (!this.isolate.isDisposed) this.isolate.dispose();
  }

  #prepare(): Promise<PreparedContext> {
    const prepared = prepareContext(this.isolate, true, this.memoryMb);
    prepared.catch(() => undefined);
    return prepared;
  }
}

interface IsolateWaiter {
  memoryMb: number;
  /** `null` when the wait ends without an isolate (aborted, or the pool closed): the run is cancelled. */
  grant(member: PoolMember | null): void;
}

/**
 * Warm isolates for stateless runs. Each run gets a context that earlier runs cannot have touched
 * in any way visible to it: pooled contexts have frozen intrinsics and their global object is
 * reset to its bootstrap state before every run (runtime/lockdown.js); whatever cannot be reset
 * (a non-configurable global, a frozen global object) makes the pool use a fresh context instead.
 * Isolates are keyed by their memory limit.
 */
export class IsolatePool {
  readonly #maxIsolates: number;
  readonly #runsPerContext: number;
  readonly #packages: PackageSet;
  #isolates = 0;
  #idle: PoolMember[] = [];
  #waiters: IsolateWaiter[] = [];
  #closed = false;

  constructor(options: IsolatePoolOptions = {}) {
    this.#maxIsolates = Math.max(1, options.maxIsolates ?? 2 * availableParallelism());
    this.#runsPerContext = Math.max(1, options.runsPerContext ?? 1000);
    this.#packages = options.packages ?? PackageSet.none();
  }

  /** Creates isolates ahead of the first runs (isolate creation costs ~1 ms of main-thread time). */
  async prewarm(memoryMb: number, count: number): Promise<void> {
    const members: PoolMember[] = [];
    while (members.length < count && this.#isolates < this.#maxIsolates) members.push(this.#createMember(memoryMb));
    await Promise.all(members.map((m) => m.context().catch(() => undefined)));
    for (const m of members) this.#release(m);
  }

  /** `hostCalls` performs the run's host calls (`fetch`); without it every call fails. */
  async run(step: Step, limits: Limits, signal?: AbortSignal, hostCalls?: HostCallPerformer): Promise<RunOutcome> {
    const startedAt = performance.now();
    const compilation = await compileForRun(step);
    if ('outcome' in compilation) return compilation.outcome;
    const { compiled } = compilation;
    // A stateless run has nothing to keep: its imports resolve to the current bundles.
    const modules = compiled.modules.length > 0 ? await this.#packages.resolve(compiled.modules, new Map()) : null;
    const member = await this.#acquire(limits.memoryMb, signal);
    if (member === null) return stoppedOutcome('cancelled', limits, 0, performance.now() - startedAt);
    try {
      for (;;) {
        const prepared = await member.context().catch((err: unknown) => {
          // The pool must not keep handing out an isolate that cannot make contexts.
          member.dispose();
          throw err;
        });
        let run;
        try {
          run = await runInContext(member.isolate, prepared, step, compiled, limits, signal, modules, hostCalls);
        } catch (err) {
          // Only a clean outcome returns an isolate to the pool.
          member.dispose();
          throw err;
        }
        if (run.kind === 'tainted') {
          member.renewContext();
          continue;
        }
        if (!run.isolateReusable) member.dispose();
        else if (++member.runs >= this.#runsPerContext) member.renewContext();
        return run.outcome;
      }
    } finally {
      this.#release(member);
    }
  }

  stats(): IsolatePoolStats {
    return { isolates: this.#isolates, idle: this.#idle.length, waiting: this.#waiters.length };
  }

  /** Disposes idle isolates now and busy ones when their run ends; queued and later runs end as cancelled. */
  close(): void {
    this.#closed = true;
    for (const m of this.#idle.splice(0)) this.#retire(m);
    for (const w of this.#waiters.splice(0)) w.grant(null);
  }

  #createMember(memoryMb: number): PoolMember {
    const member = new PoolMember(new ivm.Isolate({ memoryLimit: memoryMb }), memoryMb);
    this.#isolates++;
    return member;
  }

  #tryAcquire(memoryMb: number): PoolMember | null {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      if (this.#idle[i]!.memoryMb === memoryMb) return this.#idle.splice(i, 1)[0]!;
    }
    if (this.#isolates < this.#maxIsolates) return this.#createMember(memoryMb);
    const other = this.#idle.shift();
    if (other) {
      this.#retire(other);
      return this.#createMember(memoryMb);
    }
    return null;
  }

  #acquire(memoryMb: number, signal?: AbortSignal): Promise<PoolMember | null> {
    if (this.#closed || signal?.aborted) return Promise.resolve(null);
    const member = this.#waiters.length === 0 ? this.#tryAcquire(memoryMb) : null;
    if (member) return Promise.resolve(member);
    return new Promise((resolve) => {
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        waiter.grant(null);
      };
      const waiter: IsolateWaiter = {
        memoryMb,
        grant: (m) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(m);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #release(member: PoolMember): void {
    if (member.isolate.isDisposed || this.#closed) this.#retire(member);
    else this.#idle.push(member);
    while (this.#waiters.length > 0) {
      const next = this.#tryAcquire(this.#waiters[0]!.memoryMb);
      if (!next) break;
      this.#waiters.shift()!.grant(next);
    }
  }

  #retire(member: PoolMember): void {
    this.#isolates--;
    member.dispose();
  }
}
