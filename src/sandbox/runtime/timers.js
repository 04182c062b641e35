// Runs inside the isolate (see bootstrap.ts). Timers live on the step's virtual clock: the driver
// fires them in (due time, creation order) once the microtask queue is empty, so an awaited
// `setTimeout(r, 5000)` finishes at once and in the same order on every replay.

const TIMEOUT_MAX = 2147483647;

// Pending timers by id in a null-prototype object (`timerCount` of them); `queue` is a binary
// min-heap of [due, seq, id] entries in another, `queueLength` long. Cleared timers and superseded
// interval entries stay in the heap and are skipped when they reach the top. No built-in method is
// called on them: a session's code may have replaced those (see console.js).
let timers = { __proto__: null };
let timerCount = 0;
let queue = { __proto__: null };
let queueLength = 0;
let nextTimerId = 1;
let timerSeq = 0;
let uncaughtError = null;
let hasUncaughtError = false;

function clearTimers() {
  timers = { __proto__: null };
  timerCount = 0;
  queue = { __proto__: null };
  queueLength = 0;
}

/**
 * A pooled run starts from the ids and order a fresh context has: timer ids must not tell one
 * caller how many timers the one before made. A session's ids go on across its steps (a closure
 * may still hold an id from an earlier step), the same way live and on replay.
 */
function resetTimers(pooled) {
  clearTimers();
  if (pooled) {
    nextTimerId = 1;
    timerSeq = 0;
  }
  uncaughtError = null;
  hasUncaughtError = false;
}

function reportUncaught(error) {
  if (!hasUncaughtError) {
    hasUncaughtError = true;
    uncaughtError = error;
  }
}

function earlier(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

function swap(i, j) {
  const t = queue[i];
  queue[i] = queue[j];
  queue[j] = t;
}

function enqueue(entry) {
  let i = queueLength++;
  queue[i] = entry;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!earlier(queue[i], queue[parent])) break;
    swap(i, parent);
    i = parent;
  }
}

function dequeue() {
  const top = queue[0];
  const last = queue[--queueLength];
  delete queue[queueLength];
  if (queueLength > 0) {
    queue[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < queueLength && earlier(queue[left], queue[smallest])) smallest = left;
      if (right < queueLength && earlier(queue[right], queue[smallest])) smallest = right;
      if (smallest === i) break;
      swap(i, smallest);
      i = smallest;
    }
  }
  return top;
}

function removeTimer(id) {
  if (timers[id] === undefined) return;
  delete timers[id];
  timerCount--;
}

function schedule(id, timer, due) {
  timer.due = due;
  timer.seq = timerSeq++;
  enqueue([due, timer.seq, id]);
}

function addTimer(callback, delay, args, repeat) {
  if (typeof callback !== 'function') {
    throw new TypeError(`The "callback" argument must be of type function. Received ${inspect(callback)}`);
  }
  delay = Number(delay);
  if (!(delay >= 1 && delay <= TIMEOUT_MAX)) delay = 1;
  const id = nextTimerId++;
  const timer = { __proto__: null, due: 0, seq: 0, callback, args, interval: repeat ? delay : 0 };
  timers[id] = timer;
  timerCount++;
  schedule(id, timer, virtualNow + delay);
  return id;
}

/** Due time of the earliest pending timer (superseded heap entries are dropped); one is pending. */
function nextTimerDue() {
  for (;;) {
    const entry = queue[0];
    const timer = timers[entry[2]];
    if (timer !== undefined && timer.seq === entry[1]) return entry[0];
    dequeue();
  }
}

/** Fires the earliest pending timer; the caller has checked that one is pending. */
function fireNextTimer() {
  let id;
  let timer;
  for (;;) {
    const entry = dequeue();
    timer = timers[entry[2]];
    if (timer !== undefined && timer.seq === entry[1]) {
      id = entry[2];
      break;
    }
  }
  advanceClockTo(timer.due);
  if (timer.interval > 0) schedule(id, timer, virtualNow + timer.interval);
  else removeTimer(id);
  try {
    reflectApply(timer.callback, undefined, timer.args);
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
    clearTimeout: (id) => void (typeof id === 'number' && removeTimer(id)),
    clearInterval: (id) => void (typeof id === 'number' && removeTimer(id)),
    queueMicrotask: (callback) => {
      if (typeof callback !== 'function') throw new TypeError('The "callback" argument must be of type function');
      reflectApply(promiseThen, resolvedPromise, [() => {
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
