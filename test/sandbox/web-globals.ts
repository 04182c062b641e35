/** The globals the sandbox adds beyond Node's own (the web platform of src/sandbox/web). */
export const WEB_GLOBALS = [
  'AbortController', 'AbortSignal', 'Blob', 'ByteLengthQueuingStrategy', 'CompressionStream', 'CountQueuingStrategy',
  'Crypto', 'CryptoKey', 'CustomEvent', 'DecompressionStream', 'DOMException', 'ErrorEvent', 'Event', 'EventTarget',
  'File', 'FormData', 'Headers', 'Navigator', 'navigator', 'Performance', 'PerformanceEntry', 'PerformanceMark',
  'PerformanceMeasure', 'ReadableByteStreamController', 'ReadableStream', 'ReadableStreamBYOBReader',
  'ReadableStreamBYOBRequest', 'ReadableStreamDefaultController', 'ReadableStreamDefaultReader', 'Request', 'Response',
  'SubtleCrypto', 'TextDecoder', 'TextDecoderStream', 'TextEncoder', 'TextEncoderStream', 'TransformStream',
  'TransformStreamDefaultController', 'URL', 'URLPattern', 'URLSearchParams', 'WritableStream',
  'WritableStreamDefaultController', 'WritableStreamDefaultWriter', 'atob', 'btoa', 'structuredClone',
];

/** The constructors among them (what a prototype walk starts from). */
export const WEB_CONSTRUCTORS = WEB_GLOBALS.filter((name) => /^[A-Z]/.test(name) && name !== 'Navigator');
