// Runs inside the isolate (see bootstrap.ts). Timers live on the step's virtual clock: the driver
// fires them in (due time, creation order) once the microtask queue is empty, so an awaited
// `setTimeout(r, 5000)` finishes at once and in the same order on every replay.

const TIMEOUT_MAX = 2147483647;

let timers = new Map();
let nextTimerId = 1;
let timerSeq = 0;
let uncaughtError = null;
let hasUncaughtError = false;

function resetTimers() {
  timers = new Map();
  uncaughtError = null;
  hasUncaughtError = false;
}

function reportUncaught(error) {
  if (!hasUncaughtError) {
    hasUncaughtError = true;
    uncaughtError = error;
  }
}

function addTimer(callback, delay, args, repeat) {
  if (typeof callback !== 'function') {
    throw new TypeError(`The "callback" argument must be of type function. Received ${inspect(callback)}`);
  }
  delay = Number(delay);
  if (!(delay >= 1 && delay <= TIMEOUT_MAX)) delay = 1;
  const id = nextTimerId++;
  timers.set(id, { due: virtualNow + delay, seq: timerSeq++, callback, args, interval: repeat ? delay : 0 });
  return id;
}

function nextTimer() {
  let best = null;
  let bestId = 0;
  for (const [id, t] of timers) {
    if (best === null || t.due < best.due || (t.due === best.due && t.seq < best.seq)) {
      best = t;
      bestId = id;
    }
  }
  return best === null ? null : [bestId, best];
}

function fireNextTimer() {
  const [id, timer] = nextTimer();
  advanceClockTo(timer.due);
  if (timer.interval > 0) {
    timer.due = virtualNow + timer.interval;
    timer.seq = timerSeq++;
  } else {
    timers.delete(id);
  }
  try {
    Reflect.apply(timer.callback, undefined, timer.args);
  } catch (error) {
    reportUncaught(error);
  }
}

const resolvedPromise = Promise.resolve();
const promiseThen = Promise.prototype.then;

function installTimers(global) {
  const timerApi = {
    setTimeout: (callback, delay, ...args) => addTimer(callback, delay, args, false),
    setInterval: (callback, delay, ...args) => addTimer(callback, delay, args, true),
    clearTimeout: (id) => void timers.delete(id),
    clearInterval: (id) => void timers.delete(id),
    queueMicrotask: (callback) => {
      if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
      Reflect.apply(promiseThen, resolvedPromise, [() => {
        try {
          callback();
        } catch (error) {
          reportUncaught(error);
        }
      }]);
    },
  };
  for (const [name, fn] of Object.entries(timerApi)) {
    Object.defineProperty(fn, 'name', { value: name });
    Object.defineProperty(global, name, { value: fn, writable: true, configurable: true });
  }
}
