import { hash } from 'node:crypto';
import ivm from 'isolated-vm';
import { RUNTIME_FRAME_MARKER, type HostOutput, type PreparedContext } from './runtime/bootstrap.ts';
import { compileStep, StepSyntaxError, type CompiledStep } from './compile-step.ts';
import { bindingsJson, defineBundles } from './packages/context-modules.ts';
import type { ResolvedModules } from './packages/package-set.ts';
import { LiveHostCalls } from './host-calls/live-calls.ts';
import { errorAnswer, type HostCallPerformer } from './host-calls/types.ts';
import {
  DEFAULT_MAX_ARTIFACT_BYTES,
  type Artifact,
  type ConsoleLevel,
  type ConsoleLine,
  type Limits,
  type RunError,
  type RunHooks,
  type RunOutcome,
  type RunStatus,
  type Step,
} from './types.ts';

/**
 * What the in-isolate driver receives for one step (see runtime/driver.js `runStep`): primitives,
 * which isolated-vm passes without a serialization round, then the bytes of the step's input files
 * (each copied into the isolate once, by a transfer of its own).
 */
export type StepPayload = [
  source: string,
  ...key: KeyWords,
  clock: number,
  maxOutputBytes: number,
  maxArtifactBytes: number,
  modules: string,
  hostCallScope: number,
  inputs: string,
  files: string,
  ...fileBytes: ivm.Copy<ArrayBuffer>[],
];
type KeyWords = [number, number, number, number, number, number, number, number];

/** The step's 256-bit ChaCha20 key, sha256(seed) as eight little-endian words: never shown to user code. */
export function stepPayload(
  step: Step,
  compiled: CompiledStep,
  budget: { maxOutputBytes: number; maxArtifactBytes?: number },
  modules: ResolvedModules | null,
  hostCallScope: number,
): StepPayload {
  // One-shot hash(): half the cost of a Hash object, on every step.
  const d = hash('sha256', step.seed, 'buffer');
  const w = (i: number) => d.readUInt32LE(4 * i);
  const values = step.inputs?.values;
  const files = Object.entries(step.inputs?.files ?? {});
  const fileMeta = JSON.stringify([files.map(([name]) => name), files.map(([, f]) => f.mimeType)]);
  const fileBytes = files.map(([, f]) => new ivm.ExternalCopy(copyOfBytes(f.data)).copyInto({ release: true }));
  return [
    compiled.source,
    w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7),
    step.clock,
    budget.maxOutputBytes,
    budget.maxArtifactBytes ?? DEFAULT_MAX_ARTIFACT_BYTES,
    bindingsJson(modules),
    hostCallScope,
    values === undefined || Object.keys(values).length === 0 ? '' : JSON.stringify(values),
    fileMeta,
    ...fileBytes,
  ];
}

/** The bytes alone in an ArrayBuffer (a Buffer's may be a window on a shared pool). */
function copyOfBytes(data: Uint8Array): ArrayBuffer {
  return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
}

/**
 * What a live run sent out while it ran: its console lines (passed on to `hooks` as they come) and
 * artifacts. A run stopped by a limit or a cancel keeps these; a finished one has its console in
 * its outcome too (the same lines).
 */
class RunOutlet {
  readonly console: ConsoleLine[] = [];
  consoleTruncated = false;
  readonly artifacts: Artifact[] = [];
  readonly #hooks: RunHooks | undefined;
  constructor(hooks: RunHooks | undefined) {
    this.#hooks = hooks;
  }

  receive(message: HostOutput): void {
    if (message.kind === 'artifact') {
      this.artifacts.push({ name: message.name, mimeType: message.mimeType, data: new Uint8Array(message.bytes) });
      return;
    }
    const last = message.lines.length - 1;
    if (message.truncated) this.consoleTruncated = true;
    for (let i = 0; i <= last; i++) {
      const line = toConsoleLine(message.lines[i]);
      this.console.push(line);
      this.#hooks?.onConsole?.(line, message.truncated && i === last);
    }
  }

  /** What a stopped run keeps: everything it sent before it was stopped. */
  keptBy(outcome: RunOutcome): RunOutcome {
    return { ...outcome, console: this.console, consoleTruncated: this.consoleTruncated, ...this.artifactsField() };
  }

  artifactsField(): { artifacts?: Artifact[] } {
    return this.artifacts.length > 0 ? { artifacts: this.artifacts } : {};
  }
}

/** A driver call: one step's payload, or the steps of a replay. */
export type DriverCall = { command: 'run'; payload: StepPayload } | { command: 'replay'; payload: StepPayload[] };

/** Where no performer is given, every host call fails (the node passes its egress rules instead). */
const NO_HOST_CALLS: HostCallPerformer = {
  limits: { maxRecordedBytes: 0, maxAnswerBytes: 0, maxConcurrent: 1, maxCalls: 1 },
  perform: async (request) => errorAnswer('TypeError', `${request.kind} is not available in this sandbox`),
};

export type ContextRun =
  /** After a limit was hit the isolate must go: the stopped step may have left work queued in it. */
  | { kind: 'outcome'; outcome: RunOutcome; isolateReusable: boolean }
  /** A pooled context whose globals could not be reset: nothing ran, use a fresh context. */
  | { kind: 'tainted' };

interface DriverOutcome {
  tainted?: true;
  status: 'completed' | 'failed';
  resultText: string | null;
  resultIsJson: boolean;
  error: { name: string; message: string; stack: string | null } | null;
  console: [ConsoleLevel, string][];
  consoleTruncated: boolean;
  oneTask?: boolean;
}

const LEVELS = new Set<ConsoleLevel>(['log', 'info', 'warn', 'error', 'debug']);

/**
 * Runs one compiled step in a prepared context under the limits. A limit hit disposes the whole
 * isolate (see `guardedCall`).
 */
export async function runInContext(
  isolate: ivm.Isolate,
  prepared: PreparedContext,
  step: Step,
  compiled: CompiledStep,
  limits: Limits,
  signal: AbortSignal | undefined,
  modules: ResolvedModules | null,
  hooks?: RunHooks,
  performer: HostCallPerformer = NO_HOST_CALLS,
): Promise<ContextRun> {
  if (modules !== null && !(await defineModulesOrDispose(isolate, prepared, modules))) {
    return { kind: 'outcome', outcome: stoppedOutcome('memory_limit', limits, 0, 0), isolateReusable: false };
  }
  let calls: LiveHostCalls | undefined;
  const scope = prepared.hostCalls.open((deliver) => (calls = new LiveHostCalls(performer, deliver)));
  const payload = stepPayload(step, compiled, limits, modules, scope);
  const outlet = new RunOutlet(hooks);
  prepared.sink = (message) => outlet.receive(message);
  const call = await guardedCall(isolate, prepared, limits, signal, { command: 'run', payload }).finally(() => {
    prepared.sink = null;
    prepared.hostCalls.close(scope);
  });
  const hostCalls = calls!.records.length > 0 ? { hostCalls: calls!.records } : {};
  if (!call.ok) {
    return { kind: 'outcome', outcome: outlet.keptBy(stoppedOutcome(call.status, limits, call.cpuMs, call.wallMs)), isolateReusable: false };
  }
  const raw = readDriverOutcome(call.value, limits.maxOutputBytes);
  if (raw === null) {
    // Only a session's user code can get here, by patching built-ins the runtime relies on.
    const outcome = outlet.keptBy(stoppedOutcome('failed', limits, call.cpuMs, call.wallMs));
    return { kind: 'outcome', outcome, isolateReusable: false };
  }
  if (raw.tainted) return { kind: 'tainted' };
  const outcome: RunOutcome = {
    status: raw.status === 'completed' ? 'completed' : 'failed',
    result: raw.resultIsJson && typeof raw.resultText === 'string' ? parseJsonOrNull(raw.resultText) : null,
    resultText: raw.resultText,
    console: (Array.isArray(raw.console) ? raw.console : []).map(toConsoleLine),
    consoleTruncated: raw.consoleTruncated === true,
    error: raw.error ? userError(raw.error, compiled) : null,
    cpuMs: call.cpuMs,
    wallMs: call.wallMs,
    ...outlet.artifactsField(),
    ...(modules !== null && modules.refs.length > 0 ? { packages: modules.refs } : {}),
    ...hostCalls,
    ...(raw.oneTask === true ? { oneTask: true as const } : {}),
  };
  return { kind: 'outcome', outcome, isolateReusable: true };
}

/**
 * Defines the step's bundles in the context; false when the isolate ran out of memory doing so (a
 * large package in a small heap), which leaves it disposed like any other memory limit hit.
 */
export async function defineModulesOrDispose(isolate: ivm.Isolate, prepared: PreparedContext, modules: ResolvedModules): Promise<boolean> {
  try {
    await defineBundles(isolate, prepared, modules.bundles);
    return true;
  } catch (err) {
    if (!isolate.isDisposed && !isLimitError(err)) throw err;
    if (!isolate.isDisposed) isolate.dispose();
    return false;
  }
}

// The runtime charges every field to the output budget (runtime/console.js); in JSON a byte of it
// takes at most 6 characters (`\u0000`), plus the outcome's framing and the truncation marks.
const OUTCOME_JSON_SLACK = 64 * 1024;

/** The runtime's outcome, or null when it is unreadable or larger than the budget allows. */
function readDriverOutcome(value: unknown, maxOutputBytes: number): DriverOutcome | null {
  if (typeof value !== 'string' || value.length > 6 * maxOutputBytes + OUTCOME_JSON_SLACK) return null;
  const raw = parseJsonOrNull(value);
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as DriverOutcome) : null;
}

function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export type GuardedCall<T> =
  | { ok: true; value: T; cpuMs: number; wallMs: number }
  /** The isolate is disposed: whatever stopped the call may have left the step running in it. */
  | { ok: false; status: 'timeout' | 'cancelled' | 'memory_limit' | 'failed'; cpuMs: number; wallMs: number };

/**
 * Makes one driver call under a CPU and a wall-clock budget and an abort signal. isolated-vm's own
 * `timeout` covers just the task that starts a call, not the later tasks a step goes on in (after
 * each awaited `hostYield`), so CPU time is also watched here through `isolate.cpuTime`; the wall
 * deadline, the CPU watchdog and the signal dispose the isolate, the only way to stop it from here.
 * Any other failure of the call disposes it too: its step may still be running in there, and once
 * the watchdogs are gone nothing would bound it.
 */
export async function guardedCall(
  isolate: ivm.Isolate,
  prepared: PreparedContext,
  budget: { cpuTimeoutMs: number; wallTimeoutMs: number },
  signal: AbortSignal | undefined,
  call: DriverCall,
): Promise<GuardedCall<string>> {
  const startedAt = performance.now();
  if (signal?.aborted) return { ok: false, status: 'cancelled', cpuMs: 0, wallMs: 0 };
  const cpuBefore = cpuTimeNs(isolate);
  let killedFor: 'timeout' | 'cancelled' | null = null;
  let cpuAtKill = 0;
  const kill = (reason: 'timeout' | 'cancelled') => {
    if (killedFor !== null || isolate.isDisposed) return;
    killedFor = reason;
    cpuAtKill = elapsedCpuMs(isolate, cpuBefore);
    isolate.dispose();
  };
  const deadline = setTimeout(kill, budget.wallTimeoutMs, 'timeout');
  let watchdog = setTimeout(function checkCpu() {
    const usedMs = elapsedCpuMs(isolate, cpuBefore);
    if (usedMs >= budget.cpuTimeoutMs) kill('timeout');
    else watchdog = setTimeout(checkCpu, Math.max(1, budget.cpuTimeoutMs - usedMs));
  }, budget.cpuTimeoutMs);
  const onAbort = () => kill('cancelled');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const value = await callDriver(isolate, prepared, call, budget.cpuTimeoutMs);
    return { ok: true, value, cpuMs: elapsedCpuMs(isolate, cpuBefore), wallMs: performance.now() - startedAt };
  } catch (err) {
    const status = killedFor ?? classifyFailure(err, isolate);
    const cpuMs = killedFor ? cpuAtKill : elapsedCpuMs(isolate, cpuBefore);
    if (!isolate.isDisposed) isolate.dispose();
    return { ok: false, status, cpuMs, wallMs: performance.now() - startedAt };
  } finally {
    clearTimeout(deadline);
    clearTimeout(watchdog);
    signal?.removeEventListener('abort', onAbort);
  }
}

// Each failed attempt takes one batch of stale rejections out of the isolate; user code can make
// new ones only while its step runs, so a few attempts always get through.
const MAX_COLLECT_ATTEMPTS = 100;

/**
 * isolated-vm fails a call with any promise rejection user code left unhandled, though the call
 * goes on inside the isolate; the driver then hands out the same result again ('collect').
 */
async function callDriver(isolate: ivm.Isolate, prepared: PreparedContext, call: DriverCall, cpuTimeoutMs: number): Promise<string> {
  // `timeout` bounds the first task, including leftover microtasks of a step that never yielded.
  const result = { promise: true, copy: true } as const;
  let attempt: Promise<string>;
  if (call.command === 'run') {
    attempt = prepared.driver.apply(undefined, ['run', ...call.payload], { result, timeout: cpuTimeoutMs });
  } else {
    // One call per step, in order (the driver runs each in a task of its own, as live); only the
    // last answers, once every step before it is done: no round trip to this thread per step.
    const steps = call.payload;
    if (steps.length === 0) return 'null';
    for (const step of steps.slice(0, -1)) prepared.driver.applyIgnored(undefined, ['replay', ...step], { timeout: cpuTimeoutMs });
    attempt = prepared.driver.apply(undefined, ['replay', ...steps[steps.length - 1]!], { result, timeout: cpuTimeoutMs });
  }
  for (let i = 0; ; i++) {
    try {
      return await attempt;
    } catch (err) {
      if (isolate.isDisposed || isLimitError(err) || i >= MAX_COLLECT_ATTEMPTS) throw err;
      attempt = prepared.driver.apply(undefined, ['collect'], { result, timeout: cpuTimeoutMs });
    }
  }
}

/**
 * Replays journal steps with synchronous calls on this thread, each step to its end within its own
 * call (the driver's 'replayNow'). An asynchronous call hands the step to isolated-vm's thread and
 * back, which costs ~60 µs of CPU in thread wake-ups against ~3 µs for the step itself (bench/RESULTS.md);
 * this thread is held for the steps' CPU, so LiveSession.replay sends only steps that ran live in
 * one task and took little CPU, within `timeoutMs` in all. `abandoned`: a step did not settle within
 * its call, or the time ran out; the isolate then holds part of a step, and is disposed here.
 */
export function replayOnThisThread(
  isolate: ivm.Isolate,
  prepared: PreparedContext,
  payloads: StepPayload[],
  timeoutMs: number,
): { ok: true; cpuMs: number } | { ok: false; status: 'memory_limit' | 'abandoned' } {
  const cpuBefore = cpuTimeNs(isolate);
  const deadline = performance.now() + timeoutMs;
  // A call fails with a promise rejection user code left unhandled, though its step ran to its end
  // (as for callDriver): what says whether it did is the next call's answer.
  const call = (args: ['replayNow', ...StepPayload] | ['settledNow']): 'true' | 'false' | 'rejection' | 'memory_limit' | 'abandoned' => {
    const timeout = Math.max(1, Math.ceil(deadline - performance.now()));
    try {
      return prepared.driver.applySync(undefined, args, { timeout }) === 'true' ? 'true' : 'false';
    } catch (err) {
      if (isolate.isDisposed) return /memory limit/i.test(String(err)) ? 'memory_limit' : 'abandoned';
      return isLimitError(err) ? 'abandoned' : 'rejection';
    }
  };
  const stop = (status: 'memory_limit' | 'abandoned') => {
    if (!isolate.isDisposed) isolate.dispose();
    return { ok: false as const, status };
  };
  for (const payload of payloads) {
    const answer = call(['replayNow', ...payload]);
    if (answer === 'memory_limit' || answer === 'abandoned' || answer === 'false') return stop(answer === 'false' ? 'abandoned' : answer);
  }
  for (let i = 0; ; i++) {
    const answer = call(['settledNow']);
    if (answer === 'true') return { ok: true, cpuMs: elapsedCpuMs(isolate, cpuBefore) };
    if (answer !== 'rejection' || i >= MAX_COLLECT_ATTEMPTS) return stop(answer === 'memory_limit' ? answer : 'abandoned');
  }
}

function isLimitError(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /memory limit|Script execution timed out|Isolate is disposed/i.test(message);
}

/** Compiles a step for a run; code that does not compile makes the run's (failed) outcome at once. */
export async function compileForRun(step: Step): Promise<{ compiled: CompiledStep } | { outcome: RunOutcome }> {
  const startedAt = performance.now();
  try {
    return { compiled: await compileStep(step.code, step.language) };
  } catch (err) {
    if (err instanceof StepSyntaxError) return { outcome: syntaxErrorOutcome(err, startedAt) };
    throw err;
  }
}

function syntaxErrorOutcome(err: StepSyntaxError, startedAt: number): RunOutcome {
  return {
    status: 'failed',
    result: null,
    resultText: null,
    console: [],
    consoleTruncated: false,
    error: { name: 'SyntaxError', message: err.message, stack: null, line: err.line, column: err.column },
    cpuMs: 0,
    wallMs: performance.now() - startedAt,
  };
}

function classifyFailure(err: unknown, isolate: ivm.Isolate): 'timeout' | 'memory_limit' | 'failed' {
  const message = err instanceof Error ? err.message : String(err);
  if (/memory limit/i.test(message)) return 'memory_limit';
  if (message.includes('Script execution timed out')) return 'timeout';
  // The isolate died under us for a reason isolated-vm does not name; heap exhaustion is the only one left.
  if (isolate.isDisposed) return 'memory_limit';
  // e.g. more unhandled rejections than `callDriver` collects: the outcome is lost, not the node.
  return 'failed';
}

/** An outcome decided by the host: a limit was hit, or the runtime's answer was unreadable ('failed'). */
export function stoppedOutcome(status: Exclude<RunStatus, 'completed'>, limits: Limits, cpuMs: number, wallMs: number): RunOutcome {
  const error: RunError = { name: '', message: '', stack: null, line: null, column: null };
  if (status === 'failed') {
    error.name = 'Error';
    error.message =
      "The step's outcome could not be read (it broke the sandbox runtime, or left more unhandled promise rejections than can be collected); its isolate was discarded";
  } else if (status === 'timeout') {
    error.name = 'TimeoutError';
    error.message = `Execution exceeded its time limit (cpu ${limits.cpuTimeoutMs} ms, wall ${limits.wallTimeoutMs} ms)`;
  } else if (status === 'memory_limit') {
    error.name = 'RangeError';
    error.message = `Execution exceeded its memory limit of ${limits.memoryMb} MB`;
  } else {
    error.name = 'AbortError';
    error.message = 'Execution was cancelled';
  }
  return { status, result: null, resultText: null, console: [], consoleTruncated: false, error, cpuMs, wallMs };
}

function toConsoleLine(entry: unknown): ConsoleLine {
  const [level, text] = Array.isArray(entry) ? entry : [];
  return { level: LEVELS.has(level) ? level : 'log', text: typeof text === 'string' ? text : String(text) };
}

/** Keeps the user's frames only, with positions in the user's code. */
function userError(raw: NonNullable<DriverOutcome['error']>, compiled: CompiledStep): RunError {
  const error: RunError = { name: String(raw.name), message: String(raw.message), stack: null, line: null, column: null };
  if (typeof raw.stack !== 'string') return error;
  const position = new RegExp(`${compiled.filename.replace('.', '\\.')}:(\\d+):(\\d+)`, 'g');
  const lines = raw.stack
    .split('\n')
    .filter((line) => !(line.startsWith('    at ') && line.includes(RUNTIME_FRAME_MARKER)))
    .map((line) =>
      line
        .replace(position, (_, l: string, c: string) => {
          const p = compiled.toUserPosition(Number(l), Number(c));
          if (error.line === null && line.startsWith('    at ')) {
            error.line = p.line;
            error.column = p.column;
          }
          return `${compiled.filename}:${p.line}:${p.column}`;
        })
        .replace(/^(\s+at )(?:async )?eval \((.*)\)$/, (_, at: string, where: string) => `${at}${where}`),
    );
  error.stack = lines.join('\n');
  return error;
}

function cpuTimeNs(isolate: ivm.Isolate): bigint {
  try {
    return isolate.cpuTime;
  } catch {
    return 0n;
  }
}

function elapsedCpuMs(isolate: ivm.Isolate, before: bigint): number {
  const now = cpuTimeNs(isolate);
  return now >= before ? Number(now - before) / 1e6 : 0;
}
