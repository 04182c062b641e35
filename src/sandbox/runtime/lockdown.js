// Runs inside the isolate (see bootstrap.ts). Two jobs:
// - every context drops what could leak between callers or break replay (shared memory,
//   GC-observable weak references, RegExp's legacy last-match statics);
// - a pooled context (reused by unrelated callers) freezes every intrinsic once and resets the
//   global object before each run, so nothing one run does is visible to the next.

// Assigning these on an object whose frozen prototype has them would fail (the "override
// mistake"); as accessors they let `instance.toString = …` or `this.name = …` define an own property.
const OVERRIDABLE = ['constructor', 'toString', 'toLocaleString', 'valueOf', 'toJSON', 'name', 'message', 'hasOwnProperty'];

function removeUnsafeGlobals(global) {
  for (const name of ['SharedArrayBuffer', 'Atomics']) delete global[name];
  for (const key of ['$1', '$2', '$3', '$4', '$5', '$6', '$7', '$8', '$9', 'input', '$_', 'lastMatch', '$&', 'lastParen', '$+', 'leftContext', '$`', 'rightContext', "$'"]) {
    delete RegExp[key];
  }
  // GC timing differs between a live run and its replay: weak references hold strongly and
  // finalizers never run.
  class WeakRef {
    #target;
    constructor(target) {
      if ((typeof target !== 'object' || target === null) && typeof target !== 'function' && typeof target !== 'symbol') {
        throw new TypeError('WeakRef: target must be an object');
      }
      this.#target = target;
    }
    deref() {
      return this.#target;
    }
  }
  class FinalizationRegistry {
    constructor(cleanup) {
      if (typeof cleanup !== 'function') throw new TypeError('FinalizationRegistry: cleanup must be callable');
    }
    register() {}
    unregister() {
      return false;
    }
  }
  for (const C of [WeakRef, FinalizationRegistry]) {
    Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
    Object.defineProperty(global, C.name, { value: C, writable: true, configurable: true });
  }
}

function hiddenIntrinsics() {
  const found = [
    Object.getPrototypeOf(function* () {}),
    Object.getPrototypeOf(async function () {}),
    Object.getPrototypeOf(async function* () {}),
    Object.getPrototypeOf((function* () {})()),
    Object.getPrototypeOf((async function* () {})()),
    Object.getPrototypeOf([][Symbol.iterator]()),
    Object.getPrototypeOf(new Map()[Symbol.iterator]()),
    Object.getPrototypeOf(new Set()[Symbol.iterator]()),
    Object.getPrototypeOf(''[Symbol.iterator]()),
    Object.getPrototypeOf(/a/[Symbol.matchAll]('')),
    Object.getPrototypeOf(Int8Array),
    (function () {
      'use strict';
      return Object.getOwnPropertyDescriptor(arguments, 'callee').get;
    })(),
  ];
  // Iterator helpers (V8 12+): `values().map(f)` and `Iterator.from(plainObject)` return objects whose
  // prototypes no global reaches.
  if (typeof Iterator === 'function') {
    found.push(Object.getPrototypeOf([].values().map((x) => x)), Object.getPrototypeOf(Iterator.from({ next: () => ({ done: true }) })));
  }
  if (typeof Intl === 'object' && typeof Intl.Segmenter === 'function') {
    const segments = new Intl.Segmenter().segment('');
    found.push(Object.getPrototypeOf(segments), Object.getPrototypeOf(segments[Symbol.iterator]()));
  }
  return found;
}

function makeOverridable(object, key, value, enumerable) {
  Object.defineProperty(object, key, {
    get: { [key]() { return value; } }[key],
    set: {
      [key](next) {
        if (this === object) throw new TypeError(`Cannot assign to read only property '${String(key)}' of a frozen built-in`);
        if ((typeof this === 'object' && this !== null) || typeof this === 'function') {
          Object.defineProperty(this, key, { value: next, writable: true, enumerable: true, configurable: true });
        }
      },
    }[key],
    enumerable,
    configurable: false,
  });
}

// Subclasses of Uint8Array (the `buffer` module's Buffer) define their own `slice`, `includes`,
// `toString`, …: every method of %TypedArray%.prototype is overridable the same way.
const TYPED_ARRAY_PROTOTYPE = Object.getPrototypeOf(Int8Array.prototype);

// Objects already walked; the web platform, loaded on first use, is walked then (hardenObjects).
const hardened = new WeakSet();

// The globals the web platform adds (web-platform.js, performance.js, determinism.js), code mode's
// (mcp.js), and Buffer, an accessor like the lazy web globals. In a pooled context they live on the global object's (frozen)
// prototype instead of the global object, so that resetGlobals, which runs before every run and costs
// ~0.1 µs per own property, need not check them.
const INHERITED_GLOBALS = [...WEB_GLOBALS, 'self', 'navigator', 'Navigator', 'reportError', 'Crypto', 'Performance', 'PerformanceEntry', 'PerformanceMark', 'PerformanceMeasure', 'Buffer', 'mcp', 'tools', 'McpToolError'];

/**
 * Moves INHERITED_GLOBALS to the global object's prototype as accessors: reading one gives the value
 * (or runs its lazy getter); assigning one (`URL = …`, or a top-level `let URL`) makes an own property
 * of the global object, which resetGlobals removes before the next run. Returns the values, for
 * hardenIntrinsics to freeze (no property reaches them once they sit behind a getter).
 */
function inheritGlobals(global) {
  const proto = Object.getPrototypeOf(global);
  const values = [];
  for (const name of INHERITED_GLOBALS) {
    const desc = Reflect.getOwnPropertyDescriptor(global, name);
    if (desc === undefined) continue;
    delete global[name];
    values.push(desc.value, desc.get);
    const get = desc.get ?? { [name]() { return desc.value; } }[name];
    const set = { [name](value) { Object.defineProperty(this, name, { value, writable: true, configurable: true }); } }[name];
    Object.defineProperty(proto, name, { get, set, configurable: false });
  }
  return values;
}

function hardenIntrinsics(global) {
  const inherited = inheritGlobals(global);
  // The global object itself stays mutable (resetGlobals puts it back), but its prototype is an
  // ordinary object V8 makes per context: left mutable, one run could plant a setter there that
  // catches the next caller's top-level declarations (`const token = …` assigns `global.token`).
  hardened.add(global);
  const queue = [...hiddenIntrinsics(), Object.getPrototypeOf(global), ...inherited];
  for (const key of Reflect.ownKeys(global)) {
    const desc = Reflect.getOwnPropertyDescriptor(global, key);
    queue.push(desc.value, desc.get, desc.set);
  }
  hardenObjects(queue);
}

/** Freezes everything reachable from `queue` (prototypes, properties, accessors). */
function hardenObjects(queue) {
  while (queue.length > 0) {
    const object = queue.pop();
    if ((typeof object !== 'object' || object === null) && typeof object !== 'function') continue;
    if (hardened.has(object)) continue;
    hardened.add(object);
    queue.push(Object.getPrototypeOf(object));
    for (const key of Reflect.ownKeys(object)) {
      const desc = Reflect.getOwnPropertyDescriptor(object, key);
      const overridable = OVERRIDABLE.includes(key) || (object === TYPED_ARRAY_PROTOTYPE && typeof desc.value === 'function');
      if ('value' in desc && desc.writable && desc.configurable && overridable) {
        makeOverridable(object, key, desc.value, desc.enumerable);
        // The new accessor functions are reachable too (getOwnPropertyDescriptor): freeze them.
        const accessor = Reflect.getOwnPropertyDescriptor(object, key);
        queue.push(accessor.get, accessor.set);
      }
      queue.push(desc.value, desc.get, desc.set);
    }
    if (object === Error) freezeExceptStackTraceLimit(object);
    else Object.freeze(object);
  }
}

// Code that builds its own errors (the `assert` module's AssertionError) sets Error.stackTraceLimit
// for a moment; V8 reads it as a plain number. It stays writable in a pooled context and is put
// back before every run (resetGlobals), so no run sees what another set.
const STACK_TRACE_LIMIT = Error.stackTraceLimit;

function freezeExceptStackTraceLimit(object) {
  for (const key of Reflect.ownKeys(object)) {
    const desc = Reflect.getOwnPropertyDescriptor(object, key);
    const writable = key === 'stackTraceLimit';
    Object.defineProperty(object, key, 'value' in desc ? { ...desc, writable: writable && desc.writable, configurable: false } : { ...desc, configurable: false });
  }
  Object.preventExtensions(object);
}

let globalPrototype = null;
// The pooled global object's own keys, and those of its writable data properties with their values.
let globalKeys = null;
let globalKeyCount = 0;
let writableKeys = null;
let writableValues = null;

/**
 * Records the global object as bootstrap left it, and makes each of its own properties
 * non-configurable: a run may still assign them, but can no longer delete one, turn it into an
 * accessor or make it enumerable. What a run can change is then only the values of the writable
 * ones, their writability, and properties it adds, which resetGlobals checks without building a
 * property descriptor per global: comparing descriptors took ~30 µs, a fifth of a pooled `1 + 1`.
 */
function snapshotGlobals(global) {
  globalPrototype = Object.getPrototypeOf(global);
  const keys = Reflect.ownKeys(global);
  globalKeys = new Set(keys);
  globalKeyCount = keys.length;
  writableKeys = [];
  writableValues = [];
  for (const key of keys) {
    const desc = Reflect.getOwnPropertyDescriptor(global, key);
    if (desc.configurable) Object.defineProperty(global, key, { configurable: false });
    if ('value' in desc && desc.writable) {
      writableKeys.push(key);
      writableValues.push(desc.value);
    }
  }
}

/** Puts the global object back as it was after bootstrap; false when that is impossible. */
function resetGlobals(global) {
  if (!Object.isExtensible(global)) return false;
  Error.stackTraceLimit = STACK_TRACE_LIMIT;
  if (Object.getPrototypeOf(global) !== globalPrototype && !Reflect.setPrototypeOf(global, globalPrototype)) return false;
  // The recorded keys cannot go, so a different count means a run added some.
  const keys = Reflect.ownKeys(global);
  if (keys.length !== globalKeyCount) {
    for (const key of keys) {
      if (!globalKeys.has(key) && !Reflect.deleteProperty(global, key)) return false;
    }
  }
  // Fails for a property a run made read-only.
  for (let i = 0; i < writableKeys.length; i++) {
    if (!Reflect.set(global, writableKeys[i], writableValues[i])) return false;
  }
  return true;
}
