// Runs inside the isolate (see bootstrap.ts). `performance` on the step's virtual clock (determinism.js):
// now(), timeOrigin, and User Timing's mark/measure with their entry list. Entries live as long as the
// performance origin: a session's, or one run's in a pooled context.

let performanceEntries = [];

function clearPerformanceEntries() {
  performanceEntries = [];
}

const entryToken = Symbol('PerformanceEntry');

class PerformanceEntry {
  #name;
  #entryType;
  #startTime;
  #duration;
  constructor(token, name, entryType, startTime, duration) {
    if (token !== entryToken) throw new TypeError('Illegal constructor');
    this.#name = name;
    this.#entryType = entryType;
    this.#startTime = startTime;
    this.#duration = duration;
  }
  get name() { return this.#name; }
  get entryType() { return this.#entryType; }
  get startTime() { return this.#startTime; }
  get duration() { return this.#duration; }
  toJSON() {
    return { name: this.#name, entryType: this.#entryType, startTime: this.#startTime, duration: this.#duration, detail: this.detail };
  }
}

class PerformanceMark extends PerformanceEntry {
  #detail;
  constructor(name, options = undefined) {
    const start = options?.startTime === undefined ? performanceNow() : Number(options.startTime);
    if (!(start >= 0)) throw new TypeError(`Failed to construct 'PerformanceMark': '${options.startTime}' is not a valid startTime`);
    super(entryToken, String(name), 'mark', start, 0);
    this.#detail = options?.detail === undefined ? null : options.detail;
  }
  get detail() { return this.#detail; }
}

class PerformanceMeasure extends PerformanceEntry {
  #detail;
  constructor(token, name, start, end, detail) {
    super(token, name, 'measure', start, end - start);
    this.#detail = detail;
  }
  get detail() { return this.#detail; }
}

for (const C of [PerformanceEntry, PerformanceMark, PerformanceMeasure]) {
  Object.defineProperty(C.prototype, Symbol.toStringTag, { value: C.name, configurable: true });
}

function performanceNow() {
  return readClock() - performanceOrigin;
}

function markTime(mark, method) {
  if (typeof mark === 'number') return mark;
  const found = performanceEntries.findLast((e) => e.entryType === 'mark' && e.name === String(mark));
  if (found === undefined) throw domException(`Failed to execute '${method}' on 'Performance': The mark '${String(mark)}' does not exist.`, 'SyntaxError');
  return found.startTime;
}

// The interface object of `performance` (not constructible, as in browsers).
function Performance() {
  throw new TypeError('Illegal constructor');
}
Object.defineProperty(Performance.prototype, Symbol.toStringTag, { value: 'Performance', configurable: true });

const performanceApi = {
  __proto__: Performance.prototype,
  now: performanceNow,
  get timeOrigin() {
    return performanceOrigin;
  },
  mark(name, options = undefined) {
    const entry = new PerformanceMark(name, options);
    performanceEntries.push(entry);
    return entry;
  },
  measure(name, startOrOptions = undefined, endMark = undefined) {
    let start = 0;
    let end;
    let detail = null;
    if (typeof startOrOptions === 'object' && startOrOptions !== null) {
      if (startOrOptions.start !== undefined) start = markTime(startOrOptions.start, 'measure');
      end = startOrOptions.end !== undefined ? markTime(startOrOptions.end, 'measure') : startOrOptions.duration !== undefined ? start + Number(startOrOptions.duration) : undefined;
      detail = startOrOptions.detail ?? null;
    } else if (startOrOptions !== undefined) {
      start = markTime(startOrOptions, 'measure');
    }
    if (endMark !== undefined) end = markTime(endMark, 'measure');
    if (end === undefined) end = performanceNow();
    const entry = new PerformanceMeasure(entryToken, String(name), start, end, detail);
    performanceEntries.push(entry);
    return entry;
  },
  getEntries() {
    return performanceEntries.slice();
  },
  getEntriesByName(name, type = undefined) {
    return performanceEntries.filter((e) => e.name === String(name) && (type === undefined || e.entryType === type));
  },
  getEntriesByType(type) {
    return performanceEntries.filter((e) => e.entryType === String(type));
  },
  clearMarks(name = undefined) {
    performanceEntries = performanceEntries.filter((e) => e.entryType !== 'mark' || (name !== undefined && e.name !== String(name)));
  },
  clearMeasures(name = undefined) {
    performanceEntries = performanceEntries.filter((e) => e.entryType !== 'measure' || (name !== undefined && e.name !== String(name)));
  },
  toJSON() {
    return { timeOrigin: performanceOrigin };
  },
};

function installPerformance(global) {
  Object.defineProperty(global, 'performance', { value: performanceApi, writable: true, configurable: true });
  for (const C of [Performance, PerformanceEntry, PerformanceMark, PerformanceMeasure]) {
    Object.defineProperty(global, C.name, { value: C, writable: true, configurable: true });
  }
}
