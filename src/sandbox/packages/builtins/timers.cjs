// node:timers: the sandbox's timers (on the step's virtual clock); setImmediate is a 0 ms timeout.
const { setTimeout, clearTimeout, setInterval, clearInterval } = globalThis;

module.exports = {
  setTimeout,
  clearTimeout,
  setInterval,
  clearInterval,
  setImmediate: (callback, ...args) => setTimeout(callback, 0, ...args),
  clearImmediate: (id) => clearTimeout(id),
  get promises() {
    return require('timers/promises');
  },
};
