// Runs inside the isolate (see bootstrap.ts). Every source of non-determinism a step can read is
// derived from the step's secret key (eight 32-bit words of sha256(seed), computed by the host) and its
// clock, so replaying the same steps reads the same values. Random values come from ChaCha20 keyed
// with it (csprng, bundled from src/sandbox/web/random.js): unpredictable to whoever sees some of them.

const OriginalDate = Date;
// Each clock read advances virtual time by this much, so `while (Date.now() < t + 1000) {}` ends.
const CLOCK_READ_TICK_MS = 0.001;

let virtualNow = 0;
let performanceOrigin = null;

/**
 * performance.now() counts from the first step of a session (so it keeps increasing across its
 * steps) but from the start of each run in a pooled context, which must not reveal earlier runs.
 */
function beginDeterminism(keyWords, clock, perRunOrigin) {
  csprng.seed(keyWords);
  virtualNow = clock;
  if (performanceOrigin === null || perRunOrigin) {
    performanceOrigin = clock;
    clearPerformanceEntries();
  }
}

function nextUint32() {
  return csprng.uint32();
}

function readClock() {
  virtualNow += CLOCK_READ_TICK_MS;
  return virtualNow;
}

function advanceClockTo(ms) {
  if (ms > virtualNow) virtualNow = ms;
}

function makeDate() {
  function Date(...args) {
    if (new.target === undefined) return new OriginalDate(Math.floor(readClock())).toString();
    return Reflect.construct(OriginalDate, args.length === 0 ? [Math.floor(readClock())] : args, new.target);
  }
  Object.defineProperties(Date, {
    prototype: { value: OriginalDate.prototype },
    now: { value: function now() { return Math.floor(readClock()); }, writable: true, configurable: true },
    parse: { value: OriginalDate.parse, writable: true, configurable: true },
    UTC: { value: OriginalDate.UTC, writable: true, configurable: true },
  });
  Object.defineProperty(OriginalDate.prototype, 'constructor', { value: Date, writable: true, configurable: true });
  return Date;
}

function fillRandom(view) {
  if (!ArrayBuffer.isView(view) || view instanceof Float32Array || view instanceof Float64Array || view instanceof DataView || (typeof Float16Array === 'function' && view instanceof Float16Array)) {
    throw new TypeError('The data argument must be an integer-type TypedArray');
  }
  if (view.byteLength > 65536) throw domException(`The ArrayBuffer/ArrayBufferView's byte length (${view.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`, 'QuotaExceededError');
  csprng.fill(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return view;
}

function randomUUID() {
  const b = fillRandom(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// Intl.DateTimeFormat formats "now" when given no date, reading the real clock.
function tameDateTimeFormat() {
  const proto = Intl.DateTimeFormat.prototype;
  const formatGetter = Object.getOwnPropertyDescriptor(proto, 'format').get;
  Object.defineProperty(proto, 'format', {
    get: function format() {
      const bound = Reflect.apply(formatGetter, this, []);
      return (date) => bound(date === undefined ? Math.floor(readClock()) : date);
    },
    configurable: true,
  });
  const formatToParts = proto.formatToParts;
  Object.defineProperty(proto, 'formatToParts', {
    value: function formatToParts_(date) {
      return Reflect.apply(formatToParts, this, [date === undefined ? Math.floor(readClock()) : date]);
    },
    writable: true,
    configurable: true,
  });
}

// 53 random bits, like V8's own Math.random.
function random() {
  return (nextUint32() * 2097152 + (nextUint32() >>> 11)) / 9007199254740992;
}

function installDeterminism(global) {
  if (typeof Intl === 'object') tameDateTimeFormat();
  Object.defineProperty(Math, 'random', { value: random, writable: true, configurable: true });
  Object.defineProperty(global, 'Date', { value: makeDate(), writable: true, configurable: true });
  installPerformance(global);
  Object.defineProperty(global, 'Crypto', { value: Crypto, writable: true, configurable: true });
  Object.defineProperty(global, 'crypto', { value: new Crypto(cryptoToken), writable: true, configurable: true });
}

// crypto is eager (randomUUID is common and cheap); its `subtle` loads the web platform bundle.
const cryptoToken = Symbol('Crypto');
let loadSubtle = () => null;
function Crypto(token) {
  if (token !== cryptoToken) throw new TypeError('Illegal constructor');
}
Object.defineProperties(Crypto.prototype, {
  getRandomValues: { value: function getRandomValues(array) { return fillRandom(array); }, writable: true, enumerable: true, configurable: true },
  randomUUID: { value: function randomUUID_() { return randomUUID(); }, writable: true, enumerable: true, configurable: true },
  subtle: { get: function subtle() { return loadSubtle(); }, enumerable: true, configurable: true },
  [Symbol.toStringTag]: { value: 'Crypto', configurable: true },
});
