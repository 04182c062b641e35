// Runs inside the isolate (see bootstrap.ts): a compact util.inspect / util.format look-alike so
// console lines and non-JSON results read like Node's. It never invokes getters (they could run
// user code with side effects that replay would have to reproduce), shows them as [Getter].

const INSPECT_DEPTH = 2;
const BREAK_LENGTH = 72;
const MAX_ARRAY_ITEMS = 100;
const MAX_STRING_LENGTH = 10000;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function inspect(value) {
  return formatValue(value, 0, { seen: [], circular: new Map() });
}

function formatLogArgs(args) {
  let out = '';
  let rest = 0;
  if (typeof args[0] === 'string' && args.length > 1 && args[0].includes('%')) {
    const format = args[0];
    let next = 1;
    for (let i = 0; i < format.length; i++) {
      const ch = format[i];
      if (ch !== '%' || i + 1 === format.length) {
        out += ch;
        continue;
      }
      const spec = format[i + 1];
      if (spec === '%') {
        out += '%';
        i++;
        continue;
      }
      if (next >= args.length || !'sdifjoOc'.includes(spec)) {
        out += ch;
        continue;
      }
      const arg = args[next++];
      i++;
      if (spec === 's') out += typeof arg === 'string' ? arg : typeof arg === 'bigint' ? `${arg}n` : typeof arg === 'symbol' ? String(arg) : typeof arg === 'object' && arg !== null ? inspect(arg) : String(arg);
      else if (spec === 'd' || spec === 'i') out += typeof arg === 'bigint' ? `${arg}n` : typeof arg === 'symbol' ? 'NaN' : String(spec === 'i' ? Math.trunc(Number(arg)) : Number(arg));
      else if (spec === 'f') out += typeof arg === 'symbol' ? 'NaN' : String(parseFloat(arg));
      else if (spec === 'j') out += safeJson(arg);
      else if (spec === 'o' || spec === 'O') out += inspect(arg);
    }
    rest = next;
  } else {
    out = typeof args[0] === 'string' ? args[0] : args.length > 0 ? inspect(args[0]) : '';
    rest = 1;
  }
  for (let i = rest; i < args.length; i++) out += ' ' + (typeof args[i] === 'string' ? args[i] : inspect(args[i]));
  return out;
}

function safeJson(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return '[Circular]';
  }
}

function quote(s) {
  if (s.length > MAX_STRING_LENGTH) s = s.slice(0, MAX_STRING_LENGTH) + `... ${s.length - MAX_STRING_LENGTH} more characters`;
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    if (ch === q || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (ch < ' ') out += '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + q;
}

function formatPrimitive(value) {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    default:
      return String(value);
  }
}

function formatKey(key) {
  if (typeof key === 'symbol') return `[${key.toString()}]`;
  return IDENTIFIER.test(key) ? key : quote(key);
}

function constructorName(obj) {
  let proto = Object.getPrototypeOf(obj);
  while (proto !== null) {
    const desc = Object.getOwnPropertyDescriptor(proto, 'constructor');
    // Frozen built-ins expose `constructor` through an accessor (see lockdown.js).
    const ctor = desc === undefined ? undefined : 'value' in desc ? desc.value : desc.get && Object.isFrozen(proto) ? desc.get.call(proto) : undefined;
    if (typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name !== '') return ctor.name;
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function formatFunction(fn) {
  let source = '';
  try {
    source = Function.prototype.toString.call(fn);
  } catch {}
  const name = typeof fn.name === 'string' && fn.name !== '' ? fn.name : '';
  if (source.startsWith('class')) return name ? `[class ${name}]` : '[class (anonymous)]';
  const kind = source.startsWith('async function*') || source.startsWith('async *')
    ? 'AsyncGeneratorFunction'
    : source.startsWith('async')
      ? 'AsyncFunction'
      : source.startsWith('function*') || /^\*/.test(source)
        ? 'GeneratorFunction'
        : 'Function';
  return name ? `[${kind}: ${name}]` : `[${kind} (anonymous)]`;
}

function formatError(err) {
  let stack;
  try {
    stack = typeof err.stack === 'string' && err.stack !== '' ? err.stack : null;
  } catch {}
  if (stack) return stack;
  try {
    return `${err.name}: ${err.message}`;
  } catch {
    return '[Error]';
  }
}

function ownEntries(obj, skipIndices) {
  const entries = [];
  for (const key of Reflect.ownKeys(obj)) {
    if (skipIndices && typeof key === 'string' && String(key >>> 0) === key) continue;
    const desc = Reflect.getOwnPropertyDescriptor(obj, key);
    if (!desc || !desc.enumerable) continue;
    entries.push([key, desc]);
  }
  return entries;
}

function formatProperty(key, desc, depth, ctx) {
  let shown;
  if ('value' in desc) shown = formatValue(desc.value, depth + 1, ctx);
  else shown = desc.get && desc.set ? '[Getter/Setter]' : desc.get ? '[Getter]' : '[Setter]';
  return `${formatKey(key)}: ${shown}`;
}

function wrap(prefix, open, items, close, depth) {
  if (items.length === 0) return `${prefix}${open}${close}`;
  const total = items.reduce((n, item) => n + item.length + 2, prefix.length);
  if (total <= BREAK_LENGTH && !items.some((item) => item.includes('\n'))) {
    return `${prefix}${open} ${items.join(', ')} ${close}`;
  }
  const indent = '  '.repeat(depth + 1);
  return `${prefix}${open}\n${indent}${items.map((item) => item.split('\n').join('\n' + indent)).join(`,\n${indent}`)}\n${'  '.repeat(depth)}${close}`;
}

function formatValue(value, depth, ctx) {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return formatPrimitive(value);
  if (typeof value === 'function' && ownEntries(value, false).length === 0) return formatFunction(value);

  const onPath = ctx.seen.indexOf(value);
  if (onPath !== -1) {
    if (!ctx.circular.has(value)) ctx.circular.set(value, ctx.circular.size + 1);
    return `[Circular *${ctx.circular.get(value)}]`;
  }

  const name = constructorName(value);
  const isArray = Array.isArray(value);
  if (depth > INSPECT_DEPTH) return isArray ? '[Array]' : `[${name ?? 'Object'}]`;

  ctx.seen.push(value);
  let text;
  try {
    text = formatObject(value, name, isArray, depth, ctx);
  } finally {
    ctx.seen.pop();
  }
  const ref = ctx.circular.get(value);
  return ref === undefined ? text : `<ref *${ref}> ${text}`;
}

function formatObject(value, name, isArray, depth, ctx) {
  if (typeof value === 'function') {
    return wrap(formatFunction(value) + ' ', '{', ownEntries(value, false).map(([k, d]) => formatProperty(k, d, depth, ctx)), '}', depth);
  }
  if (isArray) {
    const items = [];
    let holes = 0;
    const shown = Math.min(value.length, MAX_ARRAY_ITEMS);
    for (let i = 0; i < shown; i++) {
      const desc = Reflect.getOwnPropertyDescriptor(value, String(i));
      if (!desc) {
        holes++;
        continue;
      }
      if (holes > 0) items.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
      holes = 0;
      items.push('value' in desc ? formatValue(desc.value, depth + 1, ctx) : '[Getter]');
    }
    if (holes > 0) items.push(`<${holes} empty item${holes > 1 ? 's' : ''}>`);
    if (value.length > shown) items.push(`... ${value.length - shown} more item${value.length - shown > 1 ? 's' : ''}`);
    for (const [k, d] of ownEntries(value, true)) items.push(formatProperty(k, d, depth, ctx));
    const prefix = name === 'Array' ? '' : `${name ?? '[Array: null prototype]'}(${value.length}) `;
    return wrap(prefix, '[', items, ']', depth);
  }
  if (value instanceof Error) return formatError(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof RegExp) return RegExp.prototype.toString.call(value);
  if (value instanceof Map) {
    const items = [];
    for (const [k, v] of Map.prototype.entries.call(value)) items.push(`${formatValue(k, depth + 1, ctx)} => ${formatValue(v, depth + 1, ctx)}`);
    return wrap(`${name ?? 'Map'}(${Map.prototype.__lookupGetter__('size').call(value)}) `, '{', items, '}', depth);
  }
  if (value instanceof Set) {
    const items = [];
    for (const v of Set.prototype.values.call(value)) items.push(formatValue(v, depth + 1, ctx));
    return wrap(`${name ?? 'Set'}(${Set.prototype.__lookupGetter__('size').call(value)}) `, '{', items, '}', depth);
  }
  if (value instanceof WeakMap || value instanceof WeakSet) return `${name} { <items unknown> }`;
  if (value instanceof Promise) return `${name ?? 'Promise'} { <state unknown> }`;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const items = [];
    const shown = Math.min(value.length, MAX_ARRAY_ITEMS);
    for (let i = 0; i < shown; i++) items.push(formatPrimitive(value[i]));
    if (value.length > shown) items.push(`... ${value.length - shown} more items`);
    return wrap(`${name}(${value.length}) `, '[', items, ']', depth);
  }
  if (value instanceof ArrayBuffer) return `ArrayBuffer { byteLength: ${value.byteLength} }`;
  for (const [Box, label] of [[Number, 'Number'], [String, 'String'], [Boolean, 'Boolean'], [BigInt, 'BigInt'], [Symbol, 'Symbol']]) {
    try {
      const primitive = Box.prototype.valueOf.call(value);
      return `[${label}: ${formatPrimitive(primitive)}]`;
    } catch {}
  }
  const items = ownEntries(value, false).map(([k, d]) => formatProperty(k, d, depth, ctx));
  const prefix = Object.getPrototypeOf(value) === null ? '[Object: null prototype] ' : name === 'Object' ? '' : `${name ?? 'Object'} `;
  return wrap(prefix, '{', items, '}', depth);
}
