// node:timers/promises on the step's virtual clock: an awaited setTimeout(1000) finishes at once.
const { setTimeout: startTimeout, clearTimeout, setInterval: startInterval, clearInterval } = globalThis;

function abortError(signal) {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return error;
}

function setTimeout(delay, value, options = {}) {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const id = startTimeout(() => resolve(value), delay);
    signal?.addEventListener?.('abort', () => {
      clearTimeout(id);
      reject(abortError(signal));
    }, { once: true });
  });
}

const setImmediate = (value, options) => setTimeout(0, value, options);

async function* setInterval(delay, value, options = {}) {
  const { signal } = options;
  let pending = 0;
  let wake = null;
  const id = startInterval(() => {
    pending++;
    if (wake) wake();
  }, delay);
  try {
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      if (pending === 0) await new Promise((resolve) => (wake = resolve));
      wake = null;
      pending--;
      yield value;
    }
  } finally {
    clearInterval(id);
  }
}

module.exports = {
  setTimeout,
  setImmediate,
  setInterval,
  scheduler: { wait: (delay, options) => setTimeout(delay, undefined, options), yield: () => setImmediate() },
};
