// Runs inside the isolate (see bootstrap.ts): runs one step (or replays many) to the end of its
// virtual time and hands back a plain JSON outcome. `hostYield` is the only host function the
// isolate can call; awaiting it ends the current task, so every queued microtask has run when it
// resolves — the point where Node would run timers.

const MICROTASK_TURNS_BEFORE_YIELD = 4;
// After the step's code has settled, timers keep firing (like Node finishing a script) up to this
// many callbacks; whatever is still pending then (an endless setInterval) is cleared.
const TIMER_CALLBACKS_AFTER_SETTLE = 1000;

const indirectEval = globalObject.eval;
const jsonStringify = JSON.stringify;
const ArrayPrototype = Array.prototype;
const ObjectPrototype = Object.prototype;

async function runStep([source, k0, k1, k2, k3, k4, k5, k6, k7, clock, maxOutputBytes], pooled) {
  beginDeterminism([k0, k1, k2, k3, k4, k5, k6, k7], clock, pooled);
  beginConsole(maxOutputBytes);
  beginConsoleExtras(pooled);
  beginWasm(pooled);
  resetTimers();

  let settled = false;
  let threw = false;
  let value;
  let error;
  try {
    const promise = indirectEval(source)(globalObject);
    Reflect.apply(promiseThen, promise, [
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
    if (!firedSinceYield && settled && timers.size === 0) break;
    await hostYield();
    yielded = true;
    firedSinceYield = false;
    if (hasUncaughtError) break;
    if (timers.size === 0) {
      stuck = !settled;
      break;
    }
    if (settled && ++firedAfterSettle > TIMER_CALLBACKS_AFTER_SETTLE) break;
    fireNextTimer();
    firedSinceYield = true;
  }

  const abandoned = timers.size;
  clearTimers();
  if (abandoned > 0 && settled && !hasUncaughtError) {
    emit('warn', [`[${abandoned} timer${abandoned > 1 ? 's' : ''} still pending after ${TIMER_CALLBACKS_AFTER_SETTLE} callbacks were cleared at the end of the step]`]);
  }

  let outcome;
  if (threw) outcome = failure(error);
  else if (hasUncaughtError) outcome = failure(uncaughtError);
  else if (stuck) {
    outcome = failure(new Error('The step is awaiting a promise that nothing can settle (no timers are pending)'));
  } else {
    outcome = { status: 'completed', error: null, ...describeResult(value, maxOutputBytes) };
  }
  consoleOpen = false;
  outcome.console = consoleLines;
  outcome.consoleTruncated = consoleTruncated;
  // Microtasks that outlive the step must run before the host sees the outcome, so that their CPU
  // time counts against this step. A step that never yielded is still in the task that started
  // the call, whose own checkpoint (under isolated-vm's timeout) runs them; otherwise drain here.
  if (yielded) await hostYield();
  return outcome;
}

function failure(reason) {
  return { status: 'failed', error: describeError(reason), resultText: null, resultIsJson: false };
}

function readString(read) {
  try {
    const v = read();
    return typeof v === 'string' ? v : v === undefined ? null : String(v);
  } catch {
    return null;
  }
}

function describeError(reason) {
  if ((typeof reason === 'object' && reason !== null) || typeof reason === 'function') {
    const name = readString(() => reason.name);
    const message = readString(() => reason.message);
    if (name !== null || message !== null) {
      return { name: name ?? 'Error', message: message ?? '', stack: readString(() => reason.stack) };
    }
  }
  let text;
  try {
    text = inspect(reason);
  } catch {
    text = '[uninspectable value]';
  }
  return { name: 'Error', message: `Uncaught ${text}`, stack: null };
}

function describeResult(value, maxOutputBytes) {
  if (value === undefined) return { resultText: null, resultIsJson: false };
  let text = null;
  let isJson = false;
  try {
    // A proxy can answer the check and JSON.stringify differently, hence the type test.
    if (isJsonFaithful(value, [])) {
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
  }
  if (utf8Length(text) > maxOutputBytes) {
    return { resultText: `${text.slice(0, maxOutputBytes)}… [result truncated: limit of ${maxOutputBytes} bytes]`, resultIsJson: false };
  }
  return { resultText: text, resultIsJson: isJson };
}

/** True when JSON.stringify(value) round-trips to an equal value (no lossy conversions). */
function isJsonFaithful(value, path) {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || path.length > 200 || path.includes(value)) return false;
  const isArray = Array.isArray(value);
  const proto = Object.getPrototypeOf(value);
  if (isArray ? proto !== ArrayPrototype : proto !== ObjectPrototype && proto !== null) return false;
  const keys = Reflect.ownKeys(value);
  if (isArray && keys.length !== value.length + 1) return false;
  path.push(value);
  for (const key of keys) {
    if (typeof key === 'symbol') return false;
    if (isArray && key === 'length') continue;
    const desc = Reflect.getOwnPropertyDescriptor(value, key);
    if (!('value' in desc) || !desc.enumerable || !isJsonFaithful(desc.value, path)) return false;
  }
  path.pop();
  return true;
}

function installRuntime(global, lockdown, memoryMb) {
  installDeterminism(global);
  installTimers(global);
  installConsole(global);
  installConsoleExtras(global.console);
  installWebPlatform(global, lockdown);
  installWasm(global, memoryMb);
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
      return jsonStringify(await runStep(args, lockdown));
    } catch (e) {
      // Only reachable if user code sabotaged the runtime's own helpers (possible in a session).
      return jsonStringify({ ...failure(e), console: [], consoleTruncated: false });
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
        ? runStep(args, lockdown)
        : Reflect.apply(promiseThen, previous, [
            async () => {
              await hostYield();
              return runStep(args, lockdown);
            },
          ]);
    replayTail = step;
    const settle = () => {
      if (replayTail === step) replayTail = null;
      return 'null';
    };
    return Reflect.apply(promiseThen, step, [settle, (e) => {
      settle();
      throw e;
    }]);
  }
  return function driver(command, ...args) {
    if (command === 'replay') current = replay(args);
    else if (command === 'run') current = run(args);
    return current;
  };
}
