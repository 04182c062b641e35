// Runs inside the isolate (see bootstrap.ts). The console methods beyond logging, formatted like
// Node 24's: group/groupEnd (two spaces of indent per level), count/countReset, time/timeLog/timeEnd
// (on the step's virtual clock, so replay prints the same durations), table. Counters and timers live
// as long as the context in a session; a pooled context forgets them at every run.

let groupIndent = '';
let consoleCounts = new Map();
let consoleTimers = new Map();

function beginConsoleExtras(pooled) {
  groupIndent = '';
  if (pooled) {
    consoleCounts = new Map();
    consoleTimers = new Map();
  }
}

/** Applied by emit (console.js) to every line. */
function indentGroup(text) {
  return groupIndent === '' ? text : groupIndent + text.replace(/\n/g, `\n${groupIndent}`);
}

function formatDuration(ms) {
  if (ms >= 60000) {
    const minutes = Math.floor(ms / 60000);
    return `${minutes}:${((ms - minutes * 60000) / 1000).toFixed(3).padStart(6, '0')} (m:ss.mmm)`;
  }
  if (ms >= 1000) return `${(ms / 1000).toFixed(3)}s`;
  return `${ms.toFixed(3)}ms`;
}

const TABLE = { top: ['┌', '┬', '┐'], middle: ['├', '┼', '┤'], bottom: ['└', '┴', '┘'] };

function renderTable(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = ([left, cross, right]) => left + widths.map((w) => '─'.repeat(w + 2)).join(cross) + right;
  const row = (cells) => `│ ${cells.map((c, i) => c + ' '.repeat(widths[i] - c.length)).join(' │ ')} │`;
  return [line(TABLE.top), row(head), line(TABLE.middle), ...rows.map(row), line(TABLE.bottom)].join('\n');
}

function tableOf(data, properties) {
  const isMap = data instanceof Map;
  const isSet = data instanceof Set;
  const entries = isMap ? [...data].map(([k, v], i) => [String(i), v, k]) : isSet ? [...data].map((v, i) => [String(i), v]) : Object.keys(data).map((k) => [k, data[k]]);
  const columns = [];
  let hasValues = false;
  for (const [, value] of entries) {
    if (typeof value === 'object' && value !== null) {
      for (const key of Object.keys(value)) if (!columns.includes(key)) columns.push(key);
    } else hasValues = true;
  }
  const keys = properties === undefined ? columns : [...properties].map(String);
  const head = [isMap || isSet ? '(iteration index)' : '(index)', ...(isMap ? ['Key'] : []), ...keys, ...(hasValues ? ['Values'] : [])];
  const rows = entries.map(([index, value, mapKey]) => {
    const objectRow = typeof value === 'object' && value !== null;
    const cells = [index, ...(isMap ? [inspect(mapKey)] : [])];
    for (const key of keys) cells.push(objectRow && Object.hasOwn(value, key) ? inspect(value[key]) : '');
    if (hasValues) cells.push(objectRow ? '' : inspect(value));
    return cells;
  });
  return renderTable(head, rows);
}

function installConsoleExtras(console) {
  const label = (value) => (value === undefined ? 'default' : String(value));
  const extras = {
    group(...args) {
      if (args.length > 0) emit('log', args);
      groupIndent += '  ';
    },
    groupEnd() {
      groupIndent = groupIndent.slice(0, -2);
    },
    count(name = undefined) {
      const key = label(name);
      const n = (consoleCounts.get(key) ?? 0) + 1;
      consoleCounts.set(key, n);
      emit('log', [`${key}: ${n}`]);
    },
    countReset(name = undefined) {
      const key = label(name);
      if (consoleCounts.has(key)) consoleCounts.set(key, 0);
      else emit('warn', [`Count for '${key}' does not exist`]);
    },
    time(name = undefined) {
      const key = label(name);
      if (consoleTimers.has(key)) emit('warn', [`Warning: Label '${key}' already exists for console.time()`]);
      else consoleTimers.set(key, readClock());
    },
    timeLog(name = undefined, ...data) {
      const key = label(name);
      if (!consoleTimers.has(key)) emit('warn', [`Warning: No such label '${key}' for console.timeLog()`]);
      else emit('log', [`${key}: ${formatDuration(readClock() - consoleTimers.get(key))}`, ...data]);
    },
    timeEnd(name = undefined) {
      const key = label(name);
      if (!consoleTimers.has(key)) {
        emit('warn', [`Warning: No such label '${key}' for console.timeEnd()`]);
        return;
      }
      emit('log', [`${key}: ${formatDuration(readClock() - consoleTimers.get(key))}`]);
      consoleTimers.delete(key);
    },
    table(data, properties = undefined) {
      if (typeof data !== 'object' || data === null) emit('log', [data]);
      else emit('log', [tableOf(data, properties)]);
    },
    dirxml(...args) {
      emit('log', args);
    },
  };
  extras.groupCollapsed = extras.group;
  for (const [name, fn] of Object.entries(extras)) {
    Object.defineProperty(fn, 'name', { value: name });
    console[name] = fn;
  }
}
