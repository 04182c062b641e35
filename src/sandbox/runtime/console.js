// Runs inside the isolate (see bootstrap.ts). Console lines are buffered here and leave the isolate
// by copy at the end of the step; nothing calls out to the host while user code runs.

let consoleLines = [];
let consoleBytes = 0;
let consoleLimit = 0;
let consoleTruncated = false;
let consoleOpen = false;

function beginConsole(maxOutputBytes) {
  consoleLines = [];
  consoleBytes = 0;
  consoleLimit = maxOutputBytes;
  consoleTruncated = false;
  consoleOpen = true;
}

function utf8Length(text) {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

function emit(level, args) {
  // Late callbacks of a finished step (or of an earlier run in a pooled context) write nowhere.
  if (!consoleOpen || consoleTruncated) return;
  const text = indentGroup(formatLogArgs(args));
  const bytes = utf8Length(text) + 1;
  if (consoleBytes + bytes > consoleLimit) {
    consoleTruncated = true;
    consoleLines.push(['warn', `[console output truncated: limit of ${consoleLimit} bytes reached]`]);
    return;
  }
  consoleBytes += bytes;
  consoleLines.push([level, text]);
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
