// Runs inside the isolate (see bootstrap.ts): the module registry behind `import`, `import()` and
// `require`. The host defines bundle factories by hash ('define') and tells each step which
// specifier resolves to which hash (its bindings); a module is evaluated on its first import, once
// per session context, and afresh in every run of a pooled context (nothing leaks between callers
// through a module's state). Also the global `process` and the lazily loaded global `Buffer`.

const moduleFactories = new Map();
let moduleBindings = new Map();
let moduleErrors = new Map();
let moduleInstances = new Map();
const jsonParse = JSON.parse;
const objectKeys = Object.keys;

function defineModules(args) {
  for (let i = 0; i + 1 < args.length; i += 2) {
    if (typeof args[i] === 'string' && typeof args[i + 1] === 'function') moduleFactories.set(args[i], args[i + 1]);
  }
}

/** `json` is the host's `{b: {specifier: hash}, e: {specifier: message}}` for this step, or ''. */
function beginModules(json, pooled) {
  if (pooled) {
    moduleBindings = new Map();
    moduleInstances = new Map();
  }
  moduleErrors = new Map();
  if (!json) return;
  const { b, e } = jsonParse(json);
  for (const key of objectKeys(b)) moduleBindings.set(key, b[key]);
  for (const key of objectKeys(e)) moduleErrors.set(key, e[key]);
}

function moduleNotFound(message) {
  const error = new Error(message);
  error.code = 'ERR_MODULE_NOT_FOUND';
  return error;
}

function moduleInstance(specifier) {
  if (typeof specifier !== 'string') {
    throw new TypeError(`The "id" argument must be of type string. Received ${inspect(specifier)}`);
  }
  const refused = moduleErrors.get(specifier);
  if (refused !== undefined) throw moduleNotFound(refused);
  const internal = INTERNAL_MODULES.get(specifier);
  if (internal !== undefined) return internal;
  const hash = moduleBindings.get(specifier);
  const factory = hash === undefined ? undefined : moduleFactories.get(hash);
  if (factory === undefined) {
    throw moduleNotFound(
      `Cannot find module '${specifier}': modules are loaded for the specifiers a cell names as string literals ` +
        `(import … from '${specifier}', import('${specifier}'), require('${specifier}')); name it so in this cell or an earlier one of the session`,
    );
  }
  let instance = moduleInstances.get(hash);
  if (instance !== undefined) return instance;
  const module = { exports: {}, id: specifier, loaded: false };
  instance = { module, namespace: null };
  // Set before it runs, so that a cycle gets the partial exports, as in Node.
  moduleInstances.set(hash, instance);
  try {
    Reflect.apply(factory, undefined, [module, module.exports, requireModule]);
  } catch (error) {
    moduleInstances.delete(hash);
    throw error;
  }
  module.loaded = true;
  return instance;
}

function requireModule(specifier) {
  return moduleInstance(specifier).module.exports;
}

/** What `import` binds: the exports' own keys, and `default` (a CommonJS module's exports, or an ES module's default). */
function moduleNamespace(specifier) {
  const instance = moduleInstance(specifier);
  if (instance.namespace !== null) return instance.namespace;
  const exports = instance.module.exports;
  const namespace = Object.create(null);
  const isObject = (typeof exports === 'object' && exports !== null) || typeof exports === 'function';
  const esModule = isObject && exports.__esModule === true;
  if (isObject) {
    for (const key of objectKeys(exports)) if (key !== '__esModule' && key !== 'default') namespace[key] = exports[key];
  }
  namespace.default = esModule && 'default' in exports ? exports.default : exports;
  Object.defineProperty(namespace, Symbol.toStringTag, { value: 'Module' });
  instance.namespace = Object.freeze(namespace);
  return instance.namespace;
}

function importModule(specifier) {
  return new Promise((resolve) => resolve(moduleNamespace(String(specifier))));
}

const SANDBOX_NODE_VERSION = 'v24.0.0';
let INTERNAL_MODULES = new Map();

function makeProcess(global) {
  const queue = global.queueMicrotask;
  const hrtime = (previous) => {
    const ns = Math.round(performance_now() * 1e6);
    const now = [Math.floor(ns / 1e9), ns % 1e9];
    if (!previous) return now;
    let s = now[0] - previous[0];
    let n = now[1] - previous[1];
    if (n < 0) {
      s--;
      n += 1e9;
    }
    return [s, n];
  };
  hrtime.bigint = () => BigInt(Math.round(performance_now() * 1e6));
  const performance_now = () => global.performance.now();
  const process = {
    env: {},
    argv: ['node'],
    argv0: 'node',
    execArgv: [],
    exitCode: undefined,
    pid: 1,
    ppid: 0,
    title: 'sandbox',
    platform: 'linux',
    arch: 'x64',
    version: SANDBOX_NODE_VERSION,
    versions: { node: SANDBOX_NODE_VERSION.slice(1) },
    release: { name: 'node' },
    cwd: () => '/',
    umask: () => 0o22,
    uptime: () => performance_now() / 1000,
    hrtime,
    nextTick: (callback, ...args) => queue(() => Reflect.apply(callback, undefined, args)),
    emitWarning: () => undefined,
    exit: () => {
      throw new Error('process.exit is not available in the sandbox: a step ends when its code does');
    },
    on: () => process,
    once: () => process,
    off: () => process,
    addListener: () => process,
    removeListener: () => process,
    removeAllListeners: () => process,
    emit: () => false,
    listeners: () => [],
    listenerCount: () => 0,
  };
  return process;
}

function installModules(global) {
  const process = makeProcess(global);
  INTERNAL_MODULES = new Map([
    ['raftbox:process', { module: { exports: process }, namespace: null }],
    ['raftbox:inspect', { module: { exports: { inspect: (value) => inspect(value), format: (...args) => formatLogArgs(args) } }, namespace: null }],
  ]);
  Object.defineProperty(global, 'process', { value: process, writable: true, configurable: true });
  Object.defineProperty(global, 'require', { value: function require(id) { return requireModule(id); }, writable: true, configurable: true });
  Object.defineProperty(global, 'Buffer', {
    get: function Buffer() {
      return requireModule('buffer').Buffer;
    },
    set: function Buffer(value) {
      Object.defineProperty(global, 'Buffer', { value, writable: true, enumerable: false, configurable: true });
    },
    configurable: true,
  });
}
