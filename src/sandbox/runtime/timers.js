// Runs inside the isolate (see bootstrap.ts). Timers live on the step's virtual clock: the driver
// fires them in (due time, creation order) once the microtask queue is empty, so an awaited
// `setTimeout(r, 5000)` finishes at once and in the same order on every replay.

const TIMEOUT_MAX = 2147483647;

// Pending timers by id; `queue` is a binary min-heap of [due, seq, id] entries. Cleared timers and
// superseded interval entries stay in the heap and are skipped when they reach the top.
let timers = new Map();
let queue = [];
let nextTimerId = 1;
let timerSeq = 0;
let uncaughtError = null;
let hasUncaughtError = false;

function clearTimers() {
  timers = new Map();
  queue = [];
}

function resetTimers() {
  clearTimers();
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

function enqueue(entry) {
  let i = queue.length;
  queue[i] = entry;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!earlier(queue[i], queue[parent])) break;
    [queue[i], queue[parent]] = [queue[parent], queue[i]];
    i = parent;
  }
}

function dequeue() {
  const top = queue[0];
  const last = queue.pop();
  if (queue.length > 0) {
    queue[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < queue.length && earlier(queue[left], queue[smallest])) smallest = left;
      if (right < queue.length && earlier(queue[right], queue[smallest])) smallest = right;
      if (smallest === i) break;
      [queue[i], queue[smallest]] = [queue[smallest], queue[i]];
      i = smallest;
    }
  }
  return top;
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
  const timer = { due: 0, seq: 0, callback, args, interval: repeat ? delay : 0 };
  timers.set(id, timer);
  schedule(id, timer, virtualNow + delay);
  return id;
}

/** Fires the earliest pending timer; the caller has checked that one is pending. */
function fireNextTimer() {
  let id;
  let timer;
  for (;;) {
    const [, seq, candidate] = dequeue();
    timer = timers.get(candidate);
    if (timer !== undefined && timer.seq === seq) {
      id = candidate;
      break;
    }
  }
  advanceClockTo(timer.due);
  if (timer.interval > 0) schedule(id, timer, virtualNow + timer.interval);
  else timers.delete(id);
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
