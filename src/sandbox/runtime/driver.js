// Runs inside the isolate (see bootstrap.ts): runs one step (or replays many) to the end of its
// virtual time and hands back a plain JSON outcome. Awaiting `hostYield` ends the current task, so
// every queued microtask has run when it resolves — the point where Node would run timers; host
// calls (host-calls.js) are the only other way out and in. (`hostOutput`, console.js, is only ever
// sent to.)

const MICROTASK_TURNS_BEFORE_YIELD = 4;
// After the step's code has settled, timers keep firing (like Node finishing a script) up to this
// many callbacks; whatever is still pending then (an endless setInterval) is cleared.
const TIMER_CALLBACKS_AFTER_SETTLE = 1000;

const indirectEval = globalObject.eval;
const jsonStringify = JSON.stringify;
const ArrayPrototype = Array.prototype;
const ObjectPrototype = Object.prototype;
const { isArray } = Array;
const { getPrototypeOf } = Object;
const { ownKeys, getOwnPropertyDescriptor } = Reflect;
// Objects whose JSON.stringify loses what they hold (a Map gives `{}`, a Date its toJSON text): a result
// whose prototype chain reaches one of these is text only. A user class's instance is not among them.
const LOSSY_PROTOTYPES = [Map, Set, WeakMap, WeakSet, WeakRef, Date, RegExp, Error, Promise, ArrayBuffer, DataView, Number, String, Boolean, Symbol, BigInt, Function, Array, Object.getPrototypeOf(Uint8Array)].map((c) => c.prototype);

/**
 * Runs one step; its outcome comes back as JSON text built here (see `serializeOutcome`). `live`: a
 * run, whose console lines and artifacts go to the host as they are made (a replay's go nowhere).
 */
async function runStep(args, pooled, live) {
  // Indexed, not destructured: destructuring calls the (patchable) array iterator. The step's ChaCha20
  // key is words 1-8; then clock, output and artifact budgets, modules, host-call scope, inputs
  // (see stepPayload).
  const source = args[0];
  beginDeterminism([args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8]], args[9], pooled);
  beginModules(args[12], pooled);
  beginConsole(args[10], live);
  beginArtifacts(args[11]);
  const files = jsonParse(args[15]);
  const fileBuffers = [];
  for (let i = 16; i < args.length; i++) fileBuffers[fileBuffers.length] = args[i];
  beginInputs(globalObject, args[14], files[0], files[1], fileBuffers);
  beginConsoleExtras(pooled);
  beginWasm(pooled);
  resetTimers(pooled);
  beginHostCalls(args[13]);

  let settled = false;
  let threw = false;
  let value;
  let error;
  try {
    const promise = indirectEval(source)(globalObject, importModule, moduleNamespace);
    reflectApply(promiseThen, promise, [
      (boxed) => {
        settled = true;
        value = boxed[0];
      },
      (reason) => {
        settled = true;
        threw = true;
        error = reason;
      },
    ]);
  } catch (reason) {
    settled = true;
    threw = true;
    error = reason;
  }

  for (let i = 0; i < MICROTASK_TURNS_BEFORE_YIELD && !settled; i++) await undefined;
  let stuck = false;
  let firedSinceYield = false;
  let firedAfterSettle = 0;
  let yielded = false;
  for (;;) {
    if (!firedSinceYield && settled && timerCount === 0 && pendingHostCallCount === 0) break;
    if (live) flushConsole(true);
    await hostYield();
    yielded = true;
    firedSinceYield = false;
    if (hasUncaughtError) break;
    // With host calls pending the clock follows real time: the host answers the wait with the next
    // completion, or with 'timeout' when the next timer is due first (see host-calls.js).
    if (pendingHostCallCount > 0 && (await waitForHostCall(timerCount === 0 ? Infinity : nextTimerDue()))) {
      firedSinceYield = true;
      continue;
    }
    if (timerCount === 0) {
      stuck = !settled;
      break;
    }
    if (settled && ++firedAfterSettle > TIMER_CALLBACKS_AFTER_SETTLE) break;
    fireNextTimer();
    firedSinceYield = true;
  }

  const abandoned = timerCount;
  clearTimers();
  endHostCalls();
  if (abandoned > 0 && settled && !hasUncaughtError) {
    emit('warn', [`[${abandoned} timer${abandoned > 1 ? 's' : ''} still pending after ${TIMER_CALLBACKS_AFTER_SETTLE} callbacks were cleared at the end of the step]`]);
  }

  // The console closes first: user code that runs while the outcome is described (getters of the
  // error, a result's toJSON) must not add lines to it. Its last batch goes ahead of the outcome.
  consoleOpen = false;
  if (live) flushConsole(true);
  let outcome;
  if (threw) outcome = failure(error);
  else if (hasUncaughtError) outcome = failure(uncaughtError);
  else if (stuck) {
    outcome = failure(new Error('The step is awaiting a promise that nothing can settle (no timers are pending)'));
  } else {
    try {
      outcome = describeResult(value);
    } catch (reason) {
      // A completion value that is a file but cannot be attached (over the artifact limit).
      outcome = failure(reason);
    }
  }
  // A step that never yielded ran to its end in the task that started it: its replay may too (see
  // 'replayNow' below). The host records this with the step.
  const json = serializeOutcome(outcome, !yielded);
  // Microtasks that outlive the step must run before the host sees the outcome, so that their CPU
  // time counts against this step. A step that never yielded is still in the task that started
  // the call, whose own checkpoint (under isolated-vm's timeout) runs them; otherwise drain here.
  if (yielded) await hostYield();
  return json;
}

/**
 * The outcome as JSON text, built by concatenation: `JSON.stringify` of an object would look up a
 * `toJSON` the step may have put on a prototype, and an object handed back through a promise would
 * be asked for its `then`. Only strings are stringified here, which looks up nothing.
 */
function serializeOutcome(outcome, oneTask = false) {
  const error = outcome.error;
  const errorJson =
    error === null
      ? 'null'
      : `{"name":${jsonStringify(error.name)},"message":${jsonStringify(error.message)},"stack":${error.stack === null ? 'null' : jsonStringify(error.stack)}}`;
  return (
    `{"status":${jsonStringify(outcome.status)},"resultText":${outcome.resultText === null ? 'null' : jsonStringify(outcome.resultText)},` +
    `"resultIsJson":${outcome.resultIsJson ? 'true' : 'false'},"error":${errorJson},` +
    `"console":[${consoleJson}],"consoleTruncated":${consoleTruncated ? 'true' : 'false'},"oneTask":${oneTask ? 'true' : 'false'}}`
  );
}

function failure(reason) {
  return { __proto__: null, status: 'failed', error: describeError(reason), resultText: null, resultIsJson: false };
}

function readString(read) {
  try {
    const v = read();
    return typeof v === 'string' ? v : v === undefined ? null : String(v);
  } catch {
    return null;
  }
}

/** The error's fields, each charged to the output budget in turn (see console.js). */
function describeError(reason) {
  if ((typeof reason === 'object' && reason !== null) || typeof reason === 'function') {
    const name = readString(() => reason.name);
    const message = readString(() => reason.message);
    if (name !== null || message !== null) {
      const stack = readString(() => reason.stack);
      return {
        __proto__: null,
        name: chargeOutput(name ?? 'Error', 'error name'),
        message: chargeOutput(message ?? '', 'error message'),
        stack: stack === null ? null : chargeOutput(stack, 'stack'),
      };
    }
  }
  let text;
  try {
    text = inspect(reason);
  } catch {}
  if (typeof text !== 'string') text = '[uninspectable value]';
  return { __proto__: null, name: 'Error', message: chargeOutput(`Uncaught ${text}`, 'error message'), stack: null };
}

function describeResult(value) {
  const outcome = { __proto__: null, status: 'completed', error: null, resultText: null, resultIsJson: false };
  if (value === undefined) return outcome;
  const file = completionArtifact(value);
  if (file !== null) {
    // The result names the artifact the value became, as JSON.
    const text = `{"artifact":${jsonStringify(file.name)},"mimeType":${jsonStringify(file.mimeType)},"size":${file.size}}`;
    outcome.resultText = chargeOutput(text, 'result');
    outcome.resultIsJson = outcome.resultText === text;
    return outcome;
  }
  let text = null;
  let isJson = false;
  try {
    // A proxy can answer the check and JSON.stringify differently, hence the type test.
    if (isJsonFaithful(value, { __proto__: null, length: 0 })) {
      const json = jsonStringify(value);
      if (typeof json === 'string') {
        text = json;
        isJson = true;
      }
    }
  } catch {}
  if (text === null) {
    try {
      text = inspect(value);
    } catch (e) {
      text = `[result could not be inspected: ${readString(() => e.message)}]`;
    }
    if (typeof text !== 'string') text = '[result could not be inspected]';
  }
  outcome.resultText = chargeOutput(text, 'result');
  // A cut JSON text is no longer JSON: it is handed out as text only.
  outcome.resultIsJson = isJson && outcome.resultText === text;
  return outcome;
}

/** True when JSON.stringify(value) round-trips to an equal value (no lossy conversions). */
function isJsonFaithful(value, path) {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || path.length > 200) return false;
  for (let i = 0; i < path.length; i++) if (path[i] === value) return false;
  const array = isArray(value);
  const proto = getPrototypeOf(value);
  if (array ? proto !== ArrayPrototype : !isPlainChain(proto)) return false;
  const keys = ownKeys(value);
  if (array && keys.length !== value.length + 1) return false;
  path[path.length] = value;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (typeof key === 'symbol') return false;
    if (array && key === 'length') continue;
    const desc = getOwnPropertyDescriptor(value, key);
    if (!('value' in desc) || !desc.enumerable || !isJsonFaithful(desc.value, path)) return false;
  }
  path.length--;
  return true;
}

/**
 * Whether objects of this prototype serialize as their own fields: Object.prototype, null, or a chain of
 * user classes over it (`class P { constructor() { this.x = 1 } }`) with no toJSON and no built-in in it.
 */
function isPlainChain(proto) {
  for (let depth = 0; proto !== null && proto !== ObjectPrototype; depth++) {
    if (depth > 100 || getOwnPropertyDescriptor(proto, 'toJSON')) return false;
    for (let i = 0; i < LOSSY_PROTOTYPES.length; i++) if (LOSSY_PROTOTYPES[i] === proto) return false;
    proto = getPrototypeOf(proto);
  }
  return true;
}

function installRuntime(global, lockdown, memoryMb) {
  installDeterminism(global);
  installTimers(global);
  installConsole(global);
  installModules(global);
  installConsoleExtras(global.console);
  installArtifacts(global);
  installInputs(global);
  installWebPlatform(global, lockdown);
  installWasm(global, memoryMb);
  installMcp(global);
  removeUnsafeGlobals(global);
  if (lockdown) {
    hardenIntrinsics(global);
    snapshotGlobals(global);
  }
  // isolated-vm fails a call when a promise rejection is left unhandled at the end of the task
  // that started it (or of an earlier task), though the call goes on inside the isolate. The host
  // then asks for the same result again with 'collect' (see step-runner.ts).
  let current = null;
  async function run(args) {
    if (lockdown && !resetGlobals(global)) return '{"tainted":true}';
    try {
      return await runStep(args, lockdown, true);
    } catch (e) {
      // Only reachable if user code sabotaged the runtime's own helpers (possible in a session).
      consoleOpen = false;
      return serializeOutcome(failure(e));
    }
  }
  // A replay is one 'replay' call per journal step, queued by the host in order. A step whose
  // predecessor is done starts in a task of its own, as it did live (so every microtask its
  // predecessor left has run); one queued behind a step still waiting on a host yield runs after
  // that step and a host yield of its own, which ends the task its predecessor finished in.
  let replayTail = null;
  function replay(args) {
    const previous = replayTail;
    const step =
      previous === null
        ? runStep(args, lockdown, false)
        : reflectApply(promiseThen, previous, [
            async () => {
              await hostYield();
              return runStep(args, lockdown, false);
            },
          ]);
    replayTail = step;
    const settle = () => {
      if (replayTail === step) replayTail = null;
      return 'null';
    };
    return reflectApply(promiseThen, step, [settle, (e) => {
      settle();
      throw e;
    }]);
  }
  // A journal step that ran live in one task is replayed by a call the host makes on its own thread
  // (LiveSession.replay): 'replayNow' runs it to its end within that call, whose task ends with its
  // microtasks run, as it did live. It refuses while the step before it has not settled, which
  // 'settledNow' tells: one that did not settle waited on the host after all, and the host gives
  // the isolate up rather than let the next step run beside it.
  let settledNow = true;
  const settleNow = () => {
    settledNow = true;
  };
  function replayNow(args) {
    if (!settledNow) return 'false';
    settledNow = false;
    reflectApply(promiseThen, runStep(args, lockdown, false), [settleNow, settleNow]);
    return 'true';
  }
  return function driver(command, ...args) {
    if (command === 'replayNow') return replayNow(args);
    if (command === 'settledNow') return settledNow ? 'true' : 'false';
    if (command === 'define') return defineModules(args);
    if (command === 'deliver') return deliverHostCall(args[0], args[1], args[2]);
    if (command === 'replay') current = replay(args);
    else if (command === 'run') current = run(args);
    return current;
  };
}
