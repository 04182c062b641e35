// DOM events and abort (DOM Standard §2, §3.1-3.2). Event and EventTarget come from event-target-shim;
// CustomEvent, AbortController and AbortSignal are the thin spec layers on top. `AbortSignal.timeout`
// runs on the step's virtual clock (host.setTimeout), like every other timer here.

import { Event as ShimEvent, EventTarget, setErrorHandler, setWarningHandler } from 'event-target-shim';
import { DOMException } from './dom-exception.js';

export { EventTarget };

// event-target-shim takes a missing type as "undefined"; WebIDL requires the argument.
export class Event extends ShimEvent {
  constructor(type, init = undefined) {
    if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
    super(type, init);
  }
}

export class CustomEvent extends Event {
  #detail;
  constructor(type, init = undefined) {
    super(type, init);
    this.#detail = init?.detail ?? null;
  }
  get detail() {
    return this.#detail;
  }
}
Object.defineProperty(CustomEvent.prototype, Symbol.toStringTag, { value: 'CustomEvent', configurable: true });

export class ErrorEvent extends Event {
  #init;
  constructor(type, init = undefined) {
    super(type, init);
    this.#init = { message: String(init?.message ?? ''), filename: String(init?.filename ?? ''), lineno: Number(init?.lineno ?? 0) >>> 0, colno: Number(init?.colno ?? 0) >>> 0, error: init?.error };
  }
  get message() { return this.#init.message; }
  get filename() { return this.#init.filename; }
  get lineno() { return this.#init.lineno; }
  get colno() { return this.#init.colno; }
  get error() { return this.#init.error; }
}
Object.defineProperty(ErrorEvent.prototype, Symbol.toStringTag, { value: 'ErrorEvent', configurable: true });

const internal = Symbol('AbortSignal internal');
const signalState = new WeakMap();

function state(signal) {
  const s = signalState.get(signal);
  if (s === undefined) throw new TypeError('Illegal invocation');
  return s;
}

function signalAbort(signal, reason) {
  const s = state(signal);
  if (s.aborted) return;
  s.aborted = true;
  s.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
  const dependents = s.dependents;
  s.dependents = [];
  for (const algorithm of s.algorithms.splice(0)) algorithm();
  signal.dispatchEvent(new Event('abort'));
  for (const dependent of dependents) signalAbort(dependent, s.reason);
}

export function createWebEvents(host) {
  class AbortSignal extends EventTarget {
    constructor(key = undefined) {
      if (key !== internal) throw new TypeError('Illegal constructor');
      super();
      signalState.set(this, { aborted: false, reason: undefined, algorithms: [], dependents: [], onabort: null });
    }
    get aborted() {
      return state(this).aborted;
    }
    get reason() {
      return state(this).reason;
    }
    throwIfAborted() {
      const s = state(this);
      if (s.aborted) throw s.reason;
    }
    get onabort() {
      return state(this).onabort;
    }
    set onabort(handler) {
      const s = state(this);
      if (s.onabort) this.removeEventListener('abort', s.onabort);
      s.onabort = typeof handler === 'function' ? handler : null;
      if (s.onabort) this.addEventListener('abort', s.onabort);
    }
    static abort(reason = undefined) {
      const signal = new AbortSignal(internal);
      signalAbort(signal, reason);
      return signal;
    }
    static timeout(milliseconds) {
      const ms = Number(milliseconds);
      if (!Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
        throw new TypeError(`AbortSignal.timeout: ${String(milliseconds)} is not a valid number of milliseconds`);
      }
      const signal = new AbortSignal(internal);
      host.setTimeout(() => signalAbort(signal, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms);
      return signal;
    }
    static any(signals) {
      const list = [...signals];
      const result = new AbortSignal(internal);
      for (const s of list) {
        if (!signalState.has(s)) throw new TypeError("AbortSignal.any: every member must be an AbortSignal");
      }
      const aborted = list.find((s) => state(s).aborted);
      if (aborted) signalAbort(result, state(aborted).reason);
      else for (const s of list) state(s).dependents.push(result);
      return result;
    }
  }
  Object.defineProperty(AbortSignal.prototype, Symbol.toStringTag, { value: 'AbortSignal', configurable: true });

  class AbortController {
    #signal = new AbortSignal(internal);
    get signal() {
      return this.#signal;
    }
    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }
  Object.defineProperty(AbortController.prototype, Symbol.toStringTag, { value: 'AbortController', configurable: true });

  // A listener that throws is reported like an uncaught error (the step fails with it), as a browser
  // reports it; event-target-shim's own warnings about misuse are not errors and go unsaid.
  setErrorHandler((error) => host.reportError(error));
  setWarningHandler(() => undefined);

  return { AbortSignal, AbortController, onAbort: (signal, algorithm) => state(signal).algorithms.push(algorithm) };
}
