import { readFileSync } from 'node:fs';
import ivm from 'isolated-vm';
import { HostCallPort } from '../host-calls/port.ts';
import { CSPRNG_SOURCE, WEB_HIDDEN, WEB_SOURCES } from './web-bundle.ts';

/**
 * The in-isolate runtime is plain JavaScript (the *.js fragments beside this file), joined into one
 * strict function so its state and helpers stay in a closure user code cannot reach. It is compiled
 * once per isolate and run in each new context.
 */
const FRAGMENTS = ['inspect.js', 'determinism.js', 'performance.js', 'timers.js', 'console.js', 'console-extras.js', 'artifacts.js', 'inputs.js', 'modules.js', 'web-platform.js', 'host-calls.js', 'mcp.js', 'wasm.js', 'lockdown.js', 'driver.js'];
// User code may replace or delete any global; the runtime keeps the originals.
const CAPTURED_GLOBALS = [
  'Object', 'Reflect', 'Array', 'JSON', 'Math', 'Number', 'String', 'Boolean', 'Symbol', 'BigInt', 'Function',
  'Promise', 'Map', 'Set', 'WeakMap', 'WeakSet', 'Date', 'RegExp', 'Error', 'TypeError', 'RangeError',
  'ArrayBuffer', 'DataView', 'Int8Array', 'Uint8Array', 'Float32Array', 'Float64Array', 'Intl', 'parseFloat',
];
const RUNTIME_SOURCE = `(function (hostYield, hostOutput, readWebSource, hostCall, lockdown, memoryMb) {
'use strict';
const globalObject = globalThis;
const { ${CAPTURED_GLOBALS.join(', ')} } = globalObject;
${CSPRNG_SOURCE}
const WEB_HIDDEN = ${JSON.stringify(WEB_HIDDEN)};
${FRAGMENTS.map((f) => readFileSync(new URL(f, import.meta.url), 'utf8')).join('\n')}
return installRuntime(globalObject, lockdown, memoryMb);
})`;
const RUNTIME_FILENAME = 'raftbox:runtime';

/** A context with the runtime installed; `driver` runs steps in it. */
export interface PreparedContext {
  context: ivm.Context;
  /**
   * Returns a promise inside the isolate; called with `result: { promise: true }` it yields the
   * string. 'run' and 'replay' take a StepPayload spread out ('replay': one journal step, queued
   * behind the replay's earlier steps), 'collect' returns the result of the latest call again, and
   * 'define' takes (hash, factory) pairs of module bundles (see packages/context-modules.ts).
   * 'replayNow' and 'settledNow' are called synchronously: a journal step replayed to its end within
   * the call, and whether it settled (step-runner.ts `replayOnThisThread`).
   */
  driver: ivm.Reference<(command: 'run' | 'replay' | 'replayNow' | 'settledNow' | 'collect' | 'define' | 'deliver', ...args: unknown[]) => string>;
  /** Where this context's live run sends its console lines and artifacts while it runs; null: dropped. */
  sink: ((message: HostOutput) => void) | null;
  /** The context's host-call channel: a run opens a scope on it for its calls (host-calls/port.ts). */
  hostCalls: HostCallPort;
  release(): void;
}

/** One message a live run sends out while it runs (runtime/console.js `flushConsole`, artifacts.js). */
export type HostOutput =
  /** A batch of console lines in order; `truncated`: its last line is the mark of the output cap's cut. */
  | { kind: 'console'; lines: Array<[string, string]>; truncated: boolean }
  | { kind: 'artifact'; name: string; mimeType: string; bytes: ArrayBuffer };

/** The host's side of `hostOutput`: only the shapes the runtime sends are passed on. */
function hostOutputOf(prepared: { sink: PreparedContext['sink'] }): ivm.Callback {
  return new ivm.Callback(
    (kind: unknown, a: unknown, b: unknown, c: unknown) => {
      const sink = prepared.sink;
      if (sink === null || typeof a !== 'string') return;
      if (kind === 'console') {
        const lines = consoleBatch(a);
        if (lines !== null) sink({ kind, lines, truncated: b === true });
      } else if (kind === 'artifact' && typeof b === 'string' && c instanceof ArrayBuffer) sink({ kind, name: a, mimeType: b, bytes: c });
    },
    // The isolate goes on at once; the calls reach this thread in order, ahead of the step's outcome.
    { ignored: true },
  );
}

/** A batch as the runtime builds it (`["log","text"]` elements, comma-separated); null if it is not one. */
function consoleBatch(elements: string): Array<[string, string]> | null {
  let lines: unknown;
  try {
    lines = JSON.parse(`[${elements}]`);
  } catch {
    return null;
  }
  const wellFormed = (line: unknown) => Array.isArray(line) && line.length === 2 && typeof line[0] === 'string' && typeof line[1] === 'string';
  return Array.isArray(lines) && lines.every(wellFormed) ? (lines as Array<[string, string]>) : null;
}

const runtimeScripts = new WeakMap<ivm.Isolate, ivm.Script>();
// Awaiting it ends the isolate's current task: the in-isolate stand-in for "the event loop turned".
const hostYield = new ivm.Callback(() => undefined, { async: true });
// The source text of one web platform module (runtime/web-platform.js), copied in on its first use in
// a context. Takes a module name, returns a constant string.
const readWebSource = new ivm.Callback((name: unknown) => {
  const source = typeof name === 'string' ? WEB_SOURCES.get(name) : undefined;
  if (source === undefined) throw new Error('unknown web platform module');
  return source;
});

export const RUNTIME_FRAME_MARKER = RUNTIME_FILENAME;

// V8's code cache of the runtime script, made by the first isolate that compiles it: every session is
// a new isolate, and compiling the runtime from source was a third of what creating one costs.
let runtimeCodeCache: ivm.ExternalCopy<ArrayBuffer> | undefined;

/**
 * Makes the runtime's code cache again in an isolate whose runtime has run. V8 compiles a function
 * on its first call, so a cache made right after compiling holds the outer function alone and every
 * new session compiled the rest again (1.3 ms of a context's 2.1 ms install, 0.7 ms of its first
 * step). Compiling the same source again in that isolate finds the script V8 already holds, inner
 * functions compiled, and its cache carries them. Bytecode follows from the source alone, so what
 * the steps run here did cannot reach another session through it.
 */
export async function captureRuntimeCodeCache(isolate: ivm.Isolate): Promise<void> {
  const script = (await isolate.compileScript(RUNTIME_SOURCE, { filename: RUNTIME_FILENAME, produceCachedData: true })) as ivm.Script & ivm.CachedDataResult;
  if (script.cachedData !== undefined) runtimeCodeCache = script.cachedData;
  script.release();
}

/** Bytes of the runtime's code cache (0 before any isolate compiled the runtime). */
export function runtimeCodeCacheBytes(): number {
  return runtimeCodeCache?.copy().byteLength ?? 0;
}

async function compileRuntime(isolate: ivm.Isolate): Promise<ivm.Script> {
  if (runtimeCodeCache !== undefined) {
    const script = (await isolate.compileScript(RUNTIME_SOURCE, { filename: RUNTIME_FILENAME, cachedData: runtimeCodeCache })) as ivm.Script & ivm.CachedDataResult;
    if ((script as { cachedDataRejected?: boolean }).cachedDataRejected !== true) return script;
  }
  const script = (await isolate.compileScript(RUNTIME_SOURCE, { filename: RUNTIME_FILENAME, produceCachedData: true })) as ivm.Script & ivm.CachedDataResult;
  runtimeCodeCache = script.cachedData;
  return script;
}

/**
 * `memoryMb` is the isolate's memory limit: WebAssembly memories, which isolated-vm does not count,
 * are held to it too (runtime/wasm.js).
 * `lockdown` freezes the intrinsics and resets globals before every run: for contexts shared by
 * unrelated callers (the pool). A session's own context stays fully mutable.
 */
export async function prepareContext(isolate: ivm.Isolate, lockdown: boolean, memoryMb: number): Promise<PreparedContext> {
  let script = runtimeScripts.get(isolate);
  if (!script) {
    script = await compileRuntime(isolate);
    runtimeScripts.set(isolate, script);
  }
  const context = await isolate.createContext();
  const install = (await script.run(context, { reference: true })) as ivm.Reference<
    (yieldToHost: unknown, output: unknown, webSource: unknown, hostCall: unknown, lockdown: boolean, memoryMb: number) => unknown
  >;
  const outlet: { sink: PreparedContext['sink'] } = { sink: null };
  const hostCalls = new HostCallPort();
  const driver = (await install.apply(undefined, [hostYield, hostOutputOf(outlet), readWebSource, hostCalls.callback, lockdown, memoryMb], {
    result: { reference: true },
  })) as PreparedContext['driver'];
  install.release();
  hostCalls.attach(driver);
  return Object.assign(outlet, {
    context,
    driver,
    hostCalls,
    release() {
      driver.release();
      context.release();
    },
  });
}
