// Runs inside the isolate (see bootstrap.ts). Installs the web platform (src/sandbox/web, bundled by
// web-bundle.ts, a bundle per module whose text comes from the host's readWebSource) and the small
// globals that need no bundle. Together the bundles are ~0.5 MB, so a context evaluates a module on the
// first read of one of its globals (accessors), and only the modules that one needs. A module reads
// no global then: its free names are constants bound to what the global object held at
// bootstrap, so a run that replaced `Object` or planted `window` first changes nothing. In a pooled
// context everything it made is frozen right after, like the intrinsics (lockdown.js).

const WEB_GLOBALS = [
  'DOMException', 'Event', 'EventTarget', 'CustomEvent', 'ErrorEvent', 'AbortController', 'AbortSignal', 'TextEncoder', 'TextDecoder',
  'TextEncoderStream', 'TextDecoderStream', 'atob', 'btoa', 'URL', 'URLSearchParams', 'URLPattern', 'structuredClone',
  'ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader', 'ReadableStreamBYOBRequest',
  'ReadableByteStreamController', 'ReadableStreamDefaultController', 'WritableStream', 'WritableStreamDefaultWriter',
  'WritableStreamDefaultController', 'TransformStream', 'TransformStreamDefaultController', 'ByteLengthQueuingStrategy',
  'CountQueuingStrategy', 'CompressionStream', 'DecompressionStream', 'Blob', 'File', 'FormData', 'Headers', 'Request',
  'Response', 'fetch', 'CryptoKey', 'SubtleCrypto',
];

let webPlatform = null;
let webLoading = false;
let loadWeb = () => null;

/** A DOMException of the web platform, for the runtime's own errors (loads the bundle: they are rare). */
function domException(message, name) {
  const platform = loadWeb();
  return platform === null ? new Error(message) : new platform.DOMException(message, name);
}
const lazyAccessors = new Set();

function loadWebPlatform(host, bindings, pooled) {
  if (webPlatform !== null) return webPlatform;
  // A polyfill probing a global (`typeof URL`) while the bundle evaluates finds nothing.
  if (webLoading) return null;
  webLoading = true;
  try {
    const shadow = Object.create(null);
    for (const [name, value] of bindings) shadow[name] = value;
    const modules = new Map();
    const provide = (name) => {
      if (!modules.has(name)) {
        modules.set(name, null);
        modules.set(name, Reflect.apply(indirectEval(readWebSource(name)), undefined, [shadow, provide]));
        // @exodus/bytes' TextDecoderStream checks for TransformStream on the global object it was given.
        if (name === 'streams') shadow.TransformStream = modules.get(name).TransformStream;
      }
      const exports = modules.get(name);
      if (exports === null) throw new Error(`web platform module ${name} imports itself through another`);
      return exports;
    };
    const platform = provide('index').createWebPlatform(host);
    if (pooled) {
      // Everything at once, then frozen: a run must not find the platform half set up by another.
      const values = Object.values(platform);
      hardenObjects([platform, shadow, ...values, ...hiddenWebIntrinsics(platform)]);
    }
    webPlatform = platform;
  } finally {
    webLoading = false;
  }
  return webPlatform;
}

/** The value of one web global; a session's global becomes an ordinary data property on first read. */
function readWebGlobal(global, name, load, pooled) {
  const platform = load();
  if (platform === null) return undefined;
  const value = platform[name];
  // A pooled context keeps its accessors, which resetGlobals would otherwise put back before every run.
  if (!pooled) {
    const desc = Reflect.getOwnPropertyDescriptor(global, name);
    if (desc !== undefined && lazyAccessors.has(desc.get)) Object.defineProperty(global, name, { value, writable: true, configurable: true });
  }
  return value;
}

/**
 * Prototypes the web platform's globals do not reach, only its objects: the streams' async iterator
 * and readers, whatwg-url's iterators. Like lockdown.js's hiddenIntrinsics, found by making one.
 */
function hiddenWebIntrinsics(platform) {
  const P = Object.getPrototypeOf;
  const stream = () => new platform.ReadableStream();
  const params = new platform.URLSearchParams();
  return [
    P(stream().values()),
    P(stream()[Symbol.asyncIterator]()),
    P(new platform.ReadableStream({ type: 'bytes' }).getReader({ mode: 'byob' })),
    P(params.entries()),
    P(params[Symbol.iterator]()),
    P(new platform.Headers().entries()),
    P(new platform.FormData().entries()),
    P(new platform.WritableStream().getWriter()),
  ];
}

function installWebPlatform(global, pooled) {
  const bindings = new Map();
  const hidden = new Set(WEB_HIDDEN);
  for (const name of Reflect.ownKeys(global)) {
    const desc = Reflect.getOwnPropertyDescriptor(global, name);
    if (typeof name === 'string' && 'value' in desc && !hidden.has(name)) bindings.set(name, desc.value);
  }
  const host = {
    setTimeout: (callback, ms) => addTimer(callback, ms, [], false),
    reportError: reportUncaught,
    fillRandom: (bytes) => csprng.fill(bytes),
    callHost: startHostCall,
  };
  const load = () => loadWebPlatform(host, bindings, pooled);
  loadWeb = load;
  for (const name of WEB_GLOBALS) {
    const get = { [name]() { return readWebGlobal(global, name, load, pooled); } }[name];
    const set = { [name](value) { Object.defineProperty(global, name, { value, writable: true, configurable: true }); } }[name];
    lazyAccessors.add(get);
    Object.defineProperty(global, name, { get, set, configurable: true });
  }
  Object.defineProperty(global, 'self', { value: global, writable: true, configurable: true });
  Object.defineProperty(global, 'navigator', {
    value: Object.freeze({ __proto__: Navigator.prototype, userAgent: 'raftbox', hardwareConcurrency: 1, language: 'en-US', languages: Object.freeze(['en-US']) }),
    writable: true,
    configurable: true,
  });
  Object.defineProperty(global, 'Navigator', { value: Navigator, writable: true, configurable: true });
  Object.defineProperty(global, 'reportError', {
    value: function reportError(error) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'reportError': 1 argument required, but only 0 present.");
      reportUncaught(error);
    },
    writable: true,
    configurable: true,
  });
  loadSubtle = () => load()?.subtle;
}

// navigator is a fixed description, the same on every node, so code that reads it replays alike.
function Navigator() {
  throw new TypeError('Illegal constructor');
}
Object.defineProperty(Navigator.prototype, Symbol.toStringTag, { value: 'Navigator', configurable: true });
