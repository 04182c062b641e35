// The web platform an agent's code expects (WinterTC Minimum Common API), built inside the isolate.
// runtime/web-platform.js evaluates this bundle in a context on the first read of one of its globals;
// each module below is initialized only when one of its globals is first read (esbuild turns these
// require calls into lazy module initializers), since the URL, crypto and compression modules alone
// cost milliseconds each to set up. `host` is the runtime's: the virtual-clock timer, the
// uncaught-error report, the step's ChaCha20 bytes, the host-call channel (for fetch). `crypto` itself is the runtime's (randomUUID
// should not need this bundle); its `subtle` getter answers `subtle` from here.

function once(load) {
  let value;
  return () => (value ??= load());
}

export function createWebPlatform(host) {
  const randomBytes = (n) => host.fillRandom(new Uint8Array(n));
  const events = once(() => ({ ...require('./events.js'), ...require('./events.js').createWebEvents(host) }));
  const fetchClasses = once(() => {
    const { AbortController, AbortSignal, onAbort } = events();
    const randomHex = () => Array.from(randomBytes(12), (b) => b.toString(16).padStart(2, '0')).join('');
    return require('./fetch-body.js').createFetchClasses({ AbortController, AbortSignal, onAbort, randomHex });
  });
  const fetch = once(() => {
    const { onAbort } = events();
    const { Request, networkResponse } = fetchClasses();
    const { DOMException } = require('./dom-exception.js');
    return { fetch: require('./fetch.js').createFetch({ Request, networkResponse, onAbort, DOMException, callHost: host.callHost }) };
  });
  const crypto = once(() => {
    const { CryptoKey, createSubtle } = require('./subtle.js');
    const token = Symbol('SubtleCrypto');
    function SubtleCrypto(key = undefined) {
      if (key !== token) throw new TypeError('Illegal constructor');
    }
    Object.defineProperty(SubtleCrypto.prototype, Symbol.toStringTag, { value: 'SubtleCrypto', configurable: true });
    for (const [name, fn] of Object.entries(createSubtle(randomBytes))) {
      Object.defineProperty(SubtleCrypto.prototype, name, { value: fn, writable: true, enumerable: true, configurable: true });
    }
    return { CryptoKey, SubtleCrypto, subtle: new SubtleCrypto(token) };
  });
  const modules = [
    [['DOMException'], () => require('./dom-exception.js')],
    [['Event', 'EventTarget', 'CustomEvent', 'ErrorEvent', 'AbortController', 'AbortSignal'], events],
    [['TextEncoder', 'TextDecoder', 'TextEncoderStream', 'TextDecoderStream'], () => require('./encoding.js')],
    [['atob', 'btoa'], () => require('./base64.js')],
    [['URL', 'URLSearchParams', 'URLPattern'], () => require('./url.js')],
    [['structuredClone'], () => require('./structured-clone.js')],
    [
      ['ReadableStream', 'ReadableStreamDefaultReader', 'ReadableStreamBYOBReader', 'ReadableStreamBYOBRequest', 'ReadableByteStreamController',
        'ReadableStreamDefaultController', 'WritableStream', 'WritableStreamDefaultWriter', 'WritableStreamDefaultController', 'TransformStream',
        'TransformStreamDefaultController', 'ByteLengthQueuingStrategy', 'CountQueuingStrategy'],
      () => require('./streams.js'),
    ],
    [['CompressionStream', 'DecompressionStream'], () => require('./compression.js')],
    [['Blob', 'File'], () => require('./blob.js')],
    [['FormData'], () => require('./form-data.js')],
    [['Headers'], () => require('./headers.js')],
    [['Request', 'Response'], fetchClasses],
    [['fetch'], fetch],
    [['CryptoKey', 'SubtleCrypto', 'subtle'], crypto],
  ];
  const platform = {};
  for (const [names, load] of modules) {
    for (const name of names) {
      Object.defineProperty(platform, name, { get: () => load()[name], enumerable: true });
    }
  }
  return platform;
}
