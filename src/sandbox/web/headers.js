// Headers (Fetch §5.2): names are byte-lowercased tokens, values have HTTP whitespace trimmed and may
// not hold NUL, CR or LF; iteration is sorted and combines repeated names, except set-cookie.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[\0\r\n]|[^\0-\xff]/;

function normalizeName(name, method) {
  const n = String(name);
  if (!TOKEN.test(n)) throw new TypeError(`Failed to execute '${method}' on 'Headers': Invalid name`);
  return n.toLowerCase();
}

function normalizeValue(value, method) {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
  if (INVALID_VALUE.test(v)) throw new TypeError(`Failed to execute '${method}' on 'Headers': Invalid value`);
  return v;
}

const guards = new WeakMap();

/** An immutable Headers (a Response.error() or redirect's) refuses changes. */
export function makeImmutable(headers) {
  guards.set(headers, 'immutable');
}

export class Headers {
  #list = [];
  constructor(init = undefined) {
    if (init === undefined || init === null) {
      if (init === null) throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
      return;
    }
    if (typeof init !== 'object' && typeof init !== 'function') {
      throw new TypeError("Failed to construct 'Headers': The provided value is not of type '(record<ByteString, ByteString> or sequence<sequence<ByteString>>)'.");
    }
    if (typeof init[Symbol.iterator] === 'function') {
      for (const pair of init) {
        const entry = [...pair];
        if (entry.length !== 2) throw new TypeError("Failed to construct 'Headers': Invalid value");
        this.append(entry[0], entry[1]);
      }
    } else {
      for (const key of Reflect.ownKeys(init)) {
        const desc = Reflect.getOwnPropertyDescriptor(init, key);
        if (desc?.enumerable && typeof key === 'string') this.append(key, init[key]);
      }
    }
  }
  #mutable(method) {
    if (guards.get(this) === 'immutable') throw new TypeError(`Failed to execute '${method}' on 'Headers': Headers are immutable`);
  }
  append(name, value) {
    const n = normalizeName(name, 'append');
    const v = normalizeValue(value, 'append');
    this.#mutable('append');
    this.#list.push([n, v]);
  }
  delete(name) {
    const n = normalizeName(name, 'delete');
    this.#mutable('delete');
    this.#list = this.#list.filter(([k]) => k !== n);
  }
  get(name) {
    const n = normalizeName(name, 'get');
    const values = this.#list.filter(([k]) => k === n).map(([, v]) => v);
    return values.length === 0 ? null : values.join(', ');
  }
  getSetCookie() {
    return this.#list.filter(([k]) => k === 'set-cookie').map(([, v]) => v);
  }
  has(name) {
    const n = normalizeName(name, 'has');
    return this.#list.some(([k]) => k === n);
  }
  set(name, value) {
    const n = normalizeName(name, 'set');
    const v = normalizeValue(value, 'set');
    this.#mutable('set');
    const first = this.#list.findIndex(([k]) => k === n);
    if (first === -1) this.#list.push([n, v]);
    else this.#list = this.#list.filter(([k], i) => k !== n || i === first).map((e, i) => (i === first ? [n, v] : e));
  }
  forEach(callback, thisArg = undefined) {
    for (const [k, v] of this.entries()) Reflect.apply(callback, thisArg, [v, k, this]);
  }
  *entries() {
    const names = [...new Set(this.#list.map(([k]) => k))].sort();
    for (const name of names) {
      if (name === 'set-cookie') for (const v of this.getSetCookie()) yield [name, v];
      else yield [name, this.get(name)];
    }
  }
  *keys() {
    for (const [k] of this.entries()) yield k;
  }
  *values() {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}
Object.defineProperty(Headers.prototype, Symbol.toStringTag, { value: 'Headers', configurable: true });
