import { Worker } from 'node:worker_threads';
import type { RunError } from '../sandbox/index.ts';
import type { CheckAnswer, CheckRequest, Diagnostic } from './type-check-worker.ts';

export interface TypeCheckerOptions {
  /** A check that takes longer fails (the worker is replaced). */
  timeoutMs: number;
  /** Checks waiting beyond this are refused at once. */
  maxQueued: number;
}

export class TypeCheckerBusyError extends Error {
  override readonly name = 'TypeCheckerBusyError';
}

// The answer names this many errors; the rest are counted.
const MAX_REPORTED = 5;

/**
 * `run_js`'s `typecheck` flag: the code checked against the upstream tools' declarations with
 * TypeScript's compiler API, in a worker thread of its own, started on the first check (the compiler
 * and its libraries cost ~100 MB and a second or so to load, which no run without the flag pays, and a
 * check never holds up the event loop, or Raft's heartbeats with it). One check at a time.
 */
export class TypeChecker {
  readonly #options: TypeCheckerOptions;
  #worker: Worker | null = null;
  #next = 1;
  #waiting = new Map<number, { resolve: (d: Diagnostic[]) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();

  constructor(options: TypeCheckerOptions) {
    this.#options = options;
  }

  /** The type errors of `code` as a run's error (the shape of a syntax error: name, message, line, column), or null. */
  async check(code: string, declarations: string, session: boolean): Promise<RunError | null> {
    const diagnostics = await this.#ask(code, declarations, session);
    if (diagnostics.length === 0) return null;
    const first = diagnostics[0]!;
    const listed = diagnostics.slice(0, MAX_REPORTED).map((d) => `${d.line}:${d.column} TS${d.code}: ${d.message}`);
    const more = diagnostics.length > MAX_REPORTED ? `\n(and ${diagnostics.length - MAX_REPORTED} more)` : '';
    return { name: 'TypeError', message: `type check failed, nothing ran:\n${listed.join('\n')}${more}`, stack: null, line: first.line, column: first.column };
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    this.#failAll(new Error('the type checker stopped'));
    await worker?.terminate();
  }

  #ask(code: string, declarations: string, session: boolean): Promise<Diagnostic[]> {
    if (this.#waiting.size >= this.#options.maxQueued) {
      return Promise.reject(new TypeCheckerBusyError(`the type checker has ${this.#waiting.size} checks waiting; retry shortly`));
    }
    const worker = this.#started();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // A stuck check (a pathological type) takes the worker with it; the next check starts a new one.
        this.#waiting.delete(id);
        reject(new Error(`the type check took longer than ${this.#options.timeoutMs} ms`));
        void this.#replace(worker);
      }, this.#options.timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer });
      worker.postMessage({ id, code, declarations, session } satisfies CheckRequest);
    });
  }

  #started(): Worker {
    if (this.#worker !== null) return this.#worker;
    const worker = new Worker(new URL('./type-check-worker.ts', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 512 } });
    worker.unref();
    worker.on('message', (answer: CheckAnswer) => {
      const waiting = this.#waiting.get(answer.id);
      if (waiting === undefined) return;
      this.#waiting.delete(answer.id);
      clearTimeout(waiting.timer);
      if ('failure' in answer) waiting.reject(new Error(`the type check failed: ${answer.failure}`));
      else waiting.resolve(answer.diagnostics);
    });
    worker.on('error', (err) => {
      if (this.#worker === worker) this.#worker = null;
      this.#failAll(new Error(`the type checker stopped: ${err.message}`));
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = null;
    });
    this.#worker = worker;
    return worker;
  }

  async #replace(worker: Worker): Promise<void> {
    if (this.#worker === worker) this.#worker = null;
    this.#failAll(new Error('the type checker was restarted after a check took too long'));
    await worker.terminate();
  }

  #failAll(error: Error): void {
    for (const { reject, timer } of this.#waiting.values()) {
      clearTimeout(timer);
      reject(error);
    }
    this.#waiting.clear();
  }
}
