// Runs inside the isolate (see bootstrap.ts). WebAssembly with two guards:
// - no shared memory (it would hand out a SharedArrayBuffer, and Atomics.waitAsync hangs under
//   isolated-vm 7): a module or Memory asking for one is refused, as is 64-bit memory;
// - wasm memory lives outside the V8 heap, so isolated-vm's memory limit does not see it (measured:
//   a 32 MB isolate grew a Memory to 3.3 GB). Every memory gets a maximum, and the maxima of the
//   memories a context makes add up to at most its memory limit (per run in a pooled context).
// Compiling is synchronous on the isolate's thread (compile/instantiate are the same work queued as
// a microtask), so it counts against the step's CPU limit; V8's background tier-up does not.

const WASM_PAGE_BYTES = 65536;
let wasmBudgetPages = 0;
let wasmReservedPages = 0;

function beginWasm(pooled) {
  if (pooled) wasmReservedPages = 0;
}

function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at.i >= bytes.length) throw new WebAssemblyCompileError('unexpected end of the module');
    const b = bytes[at.i++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return value;
    if (shift > 35) throw new WebAssemblyCompileError('malformed LEB128 number');
  }
}

function writeLeb(value, out) {
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
}

let WebAssemblyCompileError = Error;

function readLimits(bytes, at, what) {
  const flags = bytes[at.i++];
  if (flags & 0x02) throw new WebAssemblyCompileError(`${what}: shared memory is not available in this sandbox`);
  if (flags & ~0x01) throw new WebAssemblyCompileError(`${what}: only 32-bit memories and tables are available in this sandbox`);
  const min = readLeb(bytes, at);
  const max = flags & 0x01 ? readLeb(bytes, at) : null;
  return { min, max };
}

/**
 * Checks a module's memories and imports, and rewrites its memory section so that every memory has
 * a maximum within the budget. Returns [bytes, pages its instances reserve].
 */
function boundModule(source) {
  let bytes;
  if (source instanceof ArrayBuffer) bytes = new Uint8Array(source.slice(0));
  else if (ArrayBuffer.isView(source)) bytes = new Uint8Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength));
  else throw new TypeError('WebAssembly.Module(): Argument 0 must be a buffer source');
  if (bytes.length < 8) return [bytes, 0];
  const at = { i: 8 };
  let reserved = 0;
  // Sections are copied whole (a byte at a time, a 1 MB module cost ~80 ms of the step's CPU).
  const parts = [bytes.subarray(0, 8)];
  while (at.i < bytes.length) {
    const id = bytes[at.i++];
    const size = readLeb(bytes, at);
    const start = at.i;
    const end = start + size;
    if (end > bytes.length) throw new WebAssemblyCompileError('section extends past the end of the module');
    let payload = bytes.subarray(start, end);
    if (id === 2) {
      const p = { i: 0 };
      for (let n = readLeb(payload, p); n > 0; n--) {
        for (let name = 0; name < 2; name++) {
          const length = readLeb(payload, p);
          p.i += length;
        }
        const kind = payload[p.i++];
        if (kind === 0) readLeb(payload, p);
        else if (kind === 1) {
          p.i++;
          readLimits(payload, p, 'imported table');
        } else if (kind === 2) readLimits(payload, p, 'imported memory');
        else if (kind === 3) p.i += 2;
        else if (kind === 4) {
          p.i++;
          readLeb(payload, p);
        } else throw new WebAssemblyCompileError(`unknown import kind ${kind}`);
      }
    } else if (id === 5) {
      const p = { i: 0 };
      const rewritten = [];
      const count = readLeb(payload, p);
      writeLeb(count, rewritten);
      for (let n = 0; n < count; n++) {
        const { min, max } = readLimits(payload, p, 'memory');
        const bounded = Math.min(max ?? wasmBudgetPages, wasmBudgetPages);
        if (min > bounded) throw new RangeError(`WebAssembly memory of ${min} pages exceeds the sandbox's memory limit (${wasmBudgetPages} pages)`);
        rewritten.push(0x01);
        writeLeb(min, rewritten);
        writeLeb(bounded, rewritten);
        reserved += bounded;
      }
      payload = Uint8Array.from(rewritten);
    }
    const header = [id];
    writeLeb(payload.length, header);
    parts.push(Uint8Array.from(header), payload);
    at.i = end;
  }
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return [out, reserved];
}

function reservePages(pages) {
  if (wasmReservedPages + pages > wasmBudgetPages) {
    throw new RangeError(`WebAssembly memory of ${pages} pages would exceed the sandbox's memory limit (${wasmBudgetPages - wasmReservedPages} of ${wasmBudgetPages} pages left)`);
  }
  wasmReservedPages += pages;
}

function installWasm(global, memoryMb) {
  const wasm = global.WebAssembly;
  if (typeof wasm !== 'object') return;
  wasmBudgetPages = Math.floor((memoryMb * 1024 * 1024) / WASM_PAGE_BYTES);
  WebAssemblyCompileError = wasm.CompileError;
  const { Module: OriginalModule, Instance: OriginalInstance, Memory: OriginalMemory, validate } = wasm;
  const modulePages = new WeakMap();

  function Module(bytes) {
    if (new.target === undefined) throw new TypeError("WebAssembly.Module must be invoked with 'new'");
    const [checked, pages] = boundModule(bytes);
    const module = Reflect.construct(OriginalModule, [checked], new.target);
    modulePages.set(module, pages);
    return module;
  }
  function Instance(module, imports = undefined) {
    if (new.target === undefined) throw new TypeError("WebAssembly.Instance must be invoked with 'new'");
    if (!modulePages.has(module)) throw new TypeError('WebAssembly.Instance(): Argument 0 must be a WebAssembly.Module');
    reservePages(modulePages.get(module));
    return Reflect.construct(OriginalInstance, [module, imports], new.target);
  }
  function Memory(descriptor) {
    if (new.target === undefined) throw new TypeError("WebAssembly.Memory must be invoked with 'new'");
    if (typeof descriptor !== 'object' || descriptor === null) throw new TypeError('WebAssembly.Memory(): Argument 0 must be a memory descriptor');
    if (descriptor.shared) throw new TypeError('WebAssembly.Memory(): shared memory is not available in this sandbox');
    if (descriptor.address !== undefined && descriptor.address !== 'i32') throw new TypeError('WebAssembly.Memory(): only 32-bit memories are available in this sandbox');
    const initial = Number(descriptor.initial);
    const maximum = Math.min(descriptor.maximum === undefined ? wasmBudgetPages - wasmReservedPages : Number(descriptor.maximum), wasmBudgetPages);
    if (initial > maximum) throw new RangeError(`WebAssembly.Memory(): ${initial} pages exceed the sandbox's memory limit (${maximum} pages left)`);
    reservePages(maximum);
    return Reflect.construct(OriginalMemory, [{ initial, maximum }], new.target);
  }
  for (const [wrapper, original] of [[Module, OriginalModule], [Instance, OriginalInstance], [Memory, OriginalMemory]]) {
    Object.defineProperty(wrapper, 'prototype', { value: original.prototype });
    Object.defineProperty(original.prototype, 'constructor', { value: wrapper, writable: true, configurable: true });
    for (const key of Reflect.ownKeys(original)) {
      if (!['prototype', 'length', 'name'].includes(key)) Object.defineProperty(wrapper, key, Reflect.getOwnPropertyDescriptor(original, key));
    }
    Object.defineProperty(wasm, original.name, { value: wrapper, writable: true, configurable: true });
  }
  const later = (fn) => Reflect.apply(promiseThen, resolvedPromise, [fn]);
  const methods = {
    compile: (bytes) => later(() => new Module(bytes)),
    instantiate: (source, imports = undefined) =>
      later(() => {
        if (source instanceof OriginalModule) return new Instance(source, imports);
        const module = new Module(source);
        return { module, instance: new Instance(module, imports) };
      }),
    validate: (bytes) => {
      try {
        boundModule(bytes);
      } catch (error) {
        if (error instanceof TypeError) throw error;
        return false;
      }
      return validate(bytes);
    },
    compileStreaming: async (source) => methods.compile(await (await source).arrayBuffer()),
    instantiateStreaming: async (source, imports = undefined) => methods.instantiate(await (await source).arrayBuffer(), imports),
  };
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(fn, 'name', { value: name });
    Object.defineProperty(wasm, name, { value: fn, writable: true, configurable: true });
  }
}
