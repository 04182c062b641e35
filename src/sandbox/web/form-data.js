// FormData (XHR Standard §5). Entries are [name, string | File] in insertion order.
import { Blob, File } from './blob.js';

function entryValue(value, filename) {
  if (!(value instanceof Blob)) return String(value);
  if (value instanceof File && filename === undefined) return value;
  return new File([value], filename === undefined ? (value instanceof File ? value.name : 'blob') : String(filename), {
    type: value.type,
    lastModified: value instanceof File ? value.lastModified : undefined,
  });
}

function argumentsNeeded(method, got, needed) {
  if (got < needed) throw new TypeError(`Failed to execute '${method}' on 'FormData': ${needed} arguments required, but only ${got} present.`);
}

export class FormData {
  #entries = [];
  constructor(form = undefined) {
    if (form !== undefined) throw new TypeError("Failed to construct 'FormData': there are no HTML forms here");
  }
  append(name, value, filename = undefined) {
    argumentsNeeded('append', arguments.length, 2);
    if (arguments.length > 2 && !(value instanceof Blob)) throw new TypeError("Failed to execute 'append' on 'FormData': parameter 2 is not of type 'Blob'.");
    this.#entries.push([String(name), entryValue(value, filename)]);
  }
  set(name, value, filename = undefined) {
    argumentsNeeded('set', arguments.length, 2);
    if (arguments.length > 2 && !(value instanceof Blob)) throw new TypeError("Failed to execute 'set' on 'FormData': parameter 2 is not of type 'Blob'.");
    const key = String(name);
    const entry = [key, entryValue(value, filename)];
    const first = this.#entries.findIndex(([k]) => k === key);
    if (first === -1) this.#entries.push(entry);
    else this.#entries = this.#entries.filter(([k], i) => k !== key || i === first).map((e, i) => (i === first ? entry : e));
  }
  delete(name) {
    const key = String(name);
    this.#entries = this.#entries.filter(([k]) => k !== key);
  }
  get(name) {
    const key = String(name);
    return this.#entries.find(([k]) => k === key)?.[1] ?? null;
  }
  getAll(name) {
    const key = String(name);
    return this.#entries.filter(([k]) => k === key).map(([, v]) => v);
  }
  has(name) {
    const key = String(name);
    return this.#entries.some(([k]) => k === key);
  }
  forEach(callback, thisArg = undefined) {
    for (const [k, v] of this.#entries) Reflect.apply(callback, thisArg, [v, k, this]);
  }
  *entries() {
    for (const [k, v] of this.#entries) yield [k, v];
  }
  *keys() {
    for (const [k] of this.#entries) yield k;
  }
  *values() {
    for (const [, v] of this.#entries) yield v;
  }
  [Symbol.iterator]() {
    return this.entries();
  }
}
Object.defineProperty(FormData.prototype, Symbol.toStringTag, { value: 'FormData', configurable: true });
