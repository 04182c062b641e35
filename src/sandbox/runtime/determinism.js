// Runs inside the isolate (see bootstrap.ts). Every source of non-determinism a step can read is
// derived from the step's seed (four 32-bit words of sha256(seed), computed by the host) and its
// clock, so replaying the same steps reads the same values.

const OriginalDate = Date;
// Each clock read advances virtual time by this much, so `while (Date.now() < t + 1000) {}` ends.
const CLOCK_READ_TICK_MS = 0.001;

let sfcA = 0;
let sfcB = 0;
let sfcC = 0;
let sfcD = 0;
let virtualNow = 0;
let performanceOrigin = null;

/**
 * performance.now() counts from the first step of a session (so it keeps increasing across its
 * steps) but from the start of each run in a pooled context, which must not reveal earlier runs.
 */
function beginDeterminism(seed0, seed1, seed2, seed3, clock, perRunOrigin) {
  sfcA = seed0;
  sfcB = seed1;
  sfcC = seed2;
  sfcD = seed3;
  for (let i = 0; i < 15; i++) nextUint32();
  virtualNow = clock;
  if (performanceOrigin === null || perRunOrigin) performanceOrigin = clock;
}

// sfc32 (Chris Doty-Humphrey's Small Fast Counting generator).
function nextUint32() {
  sfcA >>>= 0;
  sfcB >>>= 0;
  sfcC >>>= 0;
  sfcD >>>= 0;
  const t = (sfcA + sfcB) | 0;
  sfcA = sfcB ^ (sfcB >>> 9);
  sfcB = (sfcC + (sfcC << 3)) | 0;
  sfcC = (sfcC << 21) | (sfcC >>> 11);
  sfcD = (sfcD + 1) | 0;
  const result = (t + sfcD) | 0;
  sfcC = (sfcC + result) | 0;
  return result >>> 0;
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
  if (!ArrayBuffer.isView(view) || view instanceof Float32Array || view instanceof Float64Array || view instanceof DataView) {
    throw new TypeError('The data argument must be an integer-type TypedArray');
  }
  if (view.byteLength > 65536) throw new RangeError(`The ArrayBuffer/ArrayBufferView's byte length (${view.byteLength}) exceeds the number of bytes of entropy available via this API (65536)`);
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  for (let i = 0; i < bytes.length; i += 4) {
    const word = nextUint32();
    for (let j = 0; j < 4 && i + j < bytes.length; j++) bytes[i + j] = (word >>> (j * 8)) & 0xff;
  }
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

function installDeterminism(global) {
  if (typeof Intl === 'object') tameDateTimeFormat();
  Object.defineProperty(Math, 'random', { value: function random() { return nextUint32() / 4294967296; }, writable: true, configurable: true });
  Object.defineProperty(global, 'Date', { value: makeDate(), writable: true, configurable: true });
  const performance = { now: () => readClock() - performanceOrigin, timeOrigin: 0 };
  const crypto = { getRandomValues: fillRandom, randomUUID };
  Object.defineProperty(global, 'performance', { value: performance, writable: true, configurable: true });
  Object.defineProperty(global, 'crypto', { value: crypto, writable: true, configurable: true });
}
