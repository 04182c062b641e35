// Runs inside the isolate (see bootstrap.ts). Console lines are buffered here for the step's outcome
// and, in a live run, also sent to the host one by one as they are made (`sendToHost`): the host
// keeps what a step printed when a limit or a cancel stops it, and shows a running step's output.
// `hostOutput` is an isolated-vm callback that the isolate does not wait for (its calls reach the
// host in order, ahead of the step's outcome); replays send nothing.
//
// Everything that leaves the isolate (console lines, the result's text, the error's name, message
// and stack) is charged to one per-execution budget of UTF-8 bytes, here, where it is produced: the
// host, the records, the Raft log and the list pages downstream never see more.
//
// A session's context is not frozen, so its code may replace any built-in method after bootstrap.
// What the runtime builds for the host therefore uses only methods captured now (called through
// `uncurry`), null-prototype objects and plain strings: a patched `Object.prototype.then`,
// `Array.prototype.push` or `String.prototype.slice` cannot change an outcome.

const functionCall = Function.prototype.call;
const uncurry = (method) => Reflect.apply(Function.prototype.bind, functionCall, [method]);
const reflectApply = Reflect.apply;
const charCodeAt = uncurry(String.prototype.charCodeAt);
const stringSlice = uncurry(String.prototype.slice);
const { min: mathMin, max: mathMax, floor: mathFloor } = Math;

// A console line costs its text's bytes plus this much for its level and framing, so that a flood
// of empty lines is bounded as tightly as one long line.
const CONSOLE_LINE_OVERHEAD_BYTES = 8;

let outputLimit = 0;
let outputUsed = 0;
// The console's lines, already as JSON array elements (`["log","text"]`, comma-separated).
let consoleJson = '';
let consoleTruncated = false;
let consoleOpen = false;
let streaming = false;

function beginConsole(maxOutputBytes, live) {
  streaming = live;
  outputLimit = maxOutputBytes;
  outputUsed = 0;
  consoleJson = '';
  consoleTruncated = false;
  consoleOpen = true;
}

/**
 * The console may fill the budget up to this point; the rest is kept for the result or the error,
 * which are only known at the end of the step.
 */
function consoleLimit() {
  return outputLimit - mathMin(8192, mathFloor(outputLimit / 8));
}

function utf8Length(text) {
  return utf8Prefix(text, Infinity).bytes;
}

/**
 * The longest prefix of `text` (in UTF-16 units) of at most `maxBytes` UTF-8 bytes that does not
 * split a surrogate pair; it reads at most `maxBytes` units, whatever the text's length.
 */
function utf8Prefix(text, maxBytes) {
  let bytes = 0;
  let i = 0;
  for (; i < text.length; i++) {
    const c = charCodeAt(text, i);
    const size = c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 4 : 3;
    if (bytes + size > maxBytes) break;
    bytes += size;
    if (size === 4) i++;
  }
  return { __proto__: null, units: i, bytes };
}

/**
 * Charges `text` to the budget and returns what of it fits, marked when cut. `what` names the field
 * in the mark; marks are not charged (a few dozen bytes each, at most one per field).
 */
function chargeOutput(text, what) {
  const prefix = utf8Prefix(text, outputLimit - outputUsed);
  outputUsed += prefix.bytes;
  if (prefix.units === text.length) return text;
  return `${stringSlice(text, 0, prefix.units)}… [${what} truncated: output limit of ${outputLimit} bytes]`;
}

function emit(level, args) {
  // Late callbacks of a finished step (or of an earlier run in a pooled context) write nowhere.
  if (!consoleOpen || consoleTruncated) return;
  let text;
  try {
    text = indentGroup(formatLogArgs(args));
  } catch {}
  if (typeof text !== 'string') text = '[console arguments could not be formatted]';
  const room = consoleLimit() - outputUsed - CONSOLE_LINE_OVERHEAD_BYTES;
  const prefix = utf8Prefix(text, mathMax(0, room));
  if (room < 0 || prefix.units < text.length) {
    consoleTruncated = true;
    appendConsoleLine('warn', `[console output truncated: limit of ${outputLimit} bytes reached]`, 'console-truncated');
    return;
  }
  outputUsed += prefix.bytes + CONSOLE_LINE_OVERHEAD_BYTES;
  appendConsoleLine(level, text);
}

/** `kind` 'console-truncated': the mark of the cut, after which the console takes no more lines. */
function appendConsoleLine(level, text, kind = 'console') {
  consoleJson += `${consoleJson === '' ? '' : ','}[${jsonStringify(level)},${jsonStringify(text)}]`;
  sendToHost(kind, level, text);
}

/** Hands strings and ArrayBuffers (copied) to the host's sink for this run; a replay sends nothing. */
function sendToHost(kind, a, b, c) {
  if (streaming) hostOutput(kind, a, b, c);
}

function installConsole(global) {
  const console = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    console[level] = { [level]: (...args) => emit(level, args) }[level];
  }
  console.trace = (...args) => emit('error', ['Trace:', ...args]);
  console.dir = (value) => emit('log', [inspect(value)]);
  console.assert = (condition, ...args) => {
    if (!condition) emit('error', args.length > 0 ? ['Assertion failed:', ...args] : ['Assertion failed']);
  };
  Object.defineProperty(global, 'console', { value: console, writable: true, configurable: true });
}
