// Runs inside the isolate (see bootstrap.ts). Console lines are buffered here for the step's outcome
// and, in a live run, also sent to the host in batches as they are made (`flushConsole`): the host
// keeps what a step printed when a limit or a cancel stops it, and shows a running step's output.
// `hostOutput` is an isolated-vm callback that the isolate does not wait for (its calls reach the
// host in order, ahead of the step's outcome); replays send nothing.
//
// Batches, not lines: each send is a task on the node's event loop, and a flood of 20,000 lines sent
// one by one held the loop up to 77 ms (a Raft heartbeat's worth). After the step starts and after
// each yield to the host, the first line goes at once, then batches of 2, 4, ... up to
// CONSOLE_BATCH_LINES lines (or CONSOLE_BATCH_CHARS of JSON text, whichever first); what is pending
// goes at every yield to the host (driver.js, host-calls.js), before an artifact, and at the end. So a
// step stopped while it runs synchronously (a loop that never awaits) loses only the lines since its
// last batch: fewer than CONSOLE_BATCH_LINES, at most half of those printed since it last yielded, and
// less than CONSOLE_BATCH_CHARS of text; the first line it printed after it last yielded is never lost.
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

const CONSOLE_BATCH_LINES = 64;
const CONSOLE_BATCH_CHARS = 16 * 1024;
// The lines not yet sent to the host (JSON array elements, like consoleJson), and how many lines the
// current batch may take before it goes (1 after a yield, doubling with each full batch).
let batchJson = '';
let batchLines = 0;
let batchLimit = 1;

function beginConsole(maxOutputBytes, live) {
  streaming = live;
  outputLimit = maxOutputBytes;
  outputUsed = 0;
  consoleJson = '';
  consoleTruncated = false;
  consoleOpen = true;
  batchJson = '';
  batchLines = 0;
  batchLimit = 1;
}

/**
 * Sends the pending lines to the host as one batch. `atYield`: the step hands control to the host
 * now, so the next batch starts small again (its first line goes at once).
 */
function flushConsole(atYield) {
  if (atYield) batchLimit = 1;
  if (batchLines === 0) return;
  hostOutput('console', batchJson, consoleTruncated);
  batchJson = '';
  batchLines = 0;
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
    appendConsoleLine('warn', `[console output truncated: limit of ${outputLimit} bytes reached]`);
    return;
  }
  outputUsed += prefix.bytes + CONSOLE_LINE_OVERHEAD_BYTES;
  appendConsoleLine(level, text);
}

/** The mark of the cut (`consoleTruncated` set) is the last line the console takes: it goes at once. */
function appendConsoleLine(level, text) {
  const element = `[${jsonStringify(level)},${jsonStringify(text)}]`;
  consoleJson += `${consoleJson === '' ? '' : ','}${element}`;
  if (!streaming) return;
  batchJson += `${batchLines === 0 ? '' : ','}${element}`;
  batchLines++;
  if (consoleTruncated || batchLines >= batchLimit || batchJson.length >= CONSOLE_BATCH_CHARS) {
    flushConsole(false);
    batchLimit = mathMin(2 * batchLimit, CONSOLE_BATCH_LINES);
  }
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
