import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool, type HostCallPerformer } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';
import { WEB_GLOBALS } from './web-globals.ts';

// One isolate, so every run lands in the context the previous run used.
const pool = new IsolatePool({ maxIsolates: 1 });
afterAll(() => pool.close());
const run = (code: string) => pool.run(step(code), limits);

describe('stateless runs leak nothing into the next run', () => {
  it.each([
    ['globals and declarations', 'globalThis.leak = 1; var v = 1; let l = 1; implicit = 1; function fn() {}', '[typeof leak, typeof v, typeof l, typeof implicit, typeof fn]', ['undefined', 'undefined', 'undefined', 'undefined', 'undefined']],
    ['replaced built-in globals', 'Array = null; JSON = 1; console = null; Math = {}; delete globalThis.Object', '[typeof Array.isArray, JSON.stringify(1), typeof console.log, typeof Math.max, typeof Object]', ['function', '1', 'function', 'function', 'function']],
    ['prototype mutation', 'try { Array.prototype.push = () => 0; Object.prototype.polluted = 1; } catch {} [].__proto__.extra = 2', '[[1].push(2), ({}).polluted ?? null, [].extra ?? null]', [2, null, null]],
    ['mutated built-in objects', 'try { Math.max = () => 0; JSON.parse = null; console.log = null; Date.now = () => 0 } catch {}', '[Math.max(1, 2), typeof JSON.parse, typeof console.log, Date.now() > 0]', [2, 'function', 'function', true]],
    ['global prototype', 'Object.setPrototypeOf(globalThis, { sneaky: 1 })', 'typeof sneaky', 'undefined'],
    ['pending timers', 'setTimeout(() => { globalThis.late = 1 }, 1e9); setInterval(() => console.log("tick"), 1e9)', 'await new Promise(r => setTimeout(r, 2e9)); typeof late', 'undefined'],
    ['late microtasks', '(async () => { for (let i = 0; i < 50; i++) await null; globalThis.fromMicrotask = 1 })()', 'typeof fromMicrotask', 'undefined'],
    ['a global made read-only', 'Object.defineProperty(globalThis, "JSON", { writable: false })', 'JSON = 1; typeof JSON', 'number'],
    ['non-configurable globals', 'Object.defineProperty(globalThis, "stuck", { value: 1 })', 'typeof stuck', 'undefined'],
    ['frozen global object', 'Object.freeze(globalThis)', 'globalThis.x = 1; x', 1],
    ['RegExp legacy statics', '/(secret)/.exec("my secret")', 'typeof RegExp.$1', 'undefined'],
    ['Error.prepareStackTrace', 'try { Error.prepareStackTrace = () => "hooked" } catch {}', 'typeof Error.prepareStackTrace', 'undefined'],
    ['unhandled rejections', 'Promise.reject(new Error("first")); (async () => { await null; throw new Error("later") })(); setTimeout(() => Promise.reject(new Error("timer")), 5)', '"clean"', 'clean'],
    ['data on the global object\'s prototype', 'try { Object.getPrototypeOf(globalThis).stash = "secret" } catch {}', 'typeof stash', 'undefined'],
    [
      'a setter on the global object\'s prototype catching the next run\'s declarations',
      '(() => { const loot = []; try { Object.defineProperty(Object.getPrototypeOf(globalThis), "token", { set(v) { loot.push(v) } }); Object.defineProperty(Object.getPrototypeOf(globalThis), "loot", { get: () => loot }) } catch {} })()',
      'const token = "victim secret"; [token, typeof loot]',
      ['victim secret', 'undefined'],
    ],
    ['Iterator.prototype', 'try { Iterator.prototype.take = () => "hooked"; Iterator.prototype.stash = 1 } catch {}', '[[1, 2].values().take(1).toArray(), Iterator.prototype.stash ?? null]', [[1], null]],
    ['iterator helper prototype', 'try { const p = Object.getPrototypeOf([].values().map((x) => x)); p.next = () => ({ done: true }); p.stash = "secret" } catch {}', '[[1, 2].values().map((x) => x * 2).toArray(), [].values().filter(Boolean).stash ?? null]', [[2, 4], null]],
    ['wrapped iterator prototype', 'try { Object.getPrototypeOf(Iterator.from({ next() {} })).stash = "secret" } catch {}', 'Iterator.from({ next() { return { done: true } } }).stash ?? null', null],
    ['Set methods, groupBy, withResolvers', 'try { Set.prototype.union = () => "hooked"; Object.groupBy = null; Promise.withResolvers = null } catch {}', '[[...new Set([1]).union(new Set([2]))], Object.keys(Object.groupBy([1, 2], (x) => x % 2)), typeof Promise.withResolvers]', [[1, 2], ['0', '1'], 'function']],
    ['Float16Array, DisposableStack', 'try { Float16Array.prototype.stash = 1; DisposableStack.prototype.stash = 2 } catch {}', '[new Float16Array(1).stash ?? null, new DisposableStack().stash ?? null]', [null, null]],
    ['Symbol registry data', 'try { Symbol.for("k").description2 = 1 } catch {}', 'Symbol.for("k").description2 ?? null', null],
    ['the accessors that make built-in members overridable', 'try { Object.getOwnPropertyDescriptor(Object.prototype, "toString").get.stash = "secret" } catch {}', 'Object.getOwnPropertyDescriptor(Object.prototype, "toString").get.stash ?? null', null],
    ['web platform prototypes', 'try { URL.prototype.toString = () => "hooked"; Headers.prototype.get = () => "hooked"; TextEncoder.prototype.stash = 1; DOMException.prototype.stash = 2 } catch {}', '[String(new URL("https://a.example")), new Headers({ a: "1" }).get("a"), new TextEncoder().stash ?? null, new DOMException().stash ?? null]', ['https://a.example/', '1', null, null]],
    ['crypto.subtle and its keys', 'try { crypto.subtle.digest = async () => "hooked"; CryptoKey.prototype.stash = 1; Object.getPrototypeOf(crypto).randomUUID = () => "hooked" } catch {}', 'await (async () => [(await crypto.subtle.digest("SHA-1", new Uint8Array())).byteLength, (await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-1" }, false, ["sign"])).stash ?? null, crypto.randomUUID().length])()', [20, null, 36]],
    ['hidden web prototypes (stream iterators and readers, URLSearchParams iterator)', 'try { Object.getPrototypeOf(new ReadableStream().values()).next = () => "hooked"; Object.getPrototypeOf(new URLSearchParams().entries()).stash = 1; Object.getPrototypeOf(new ReadableStream({ type: "bytes" }).getReader({ mode: "byob" })).stash = 2 } catch {}', 'await (async () => { const out = []; for await (const x of ReadableStream.from([1])) out.push(x); return [out, new URLSearchParams().entries().stash ?? null, new ReadableStream({ type: "bytes" }).getReader({ mode: "byob" }).stash ?? null] })()', [[1], null, null]],
    ['replaced and redefined web globals', 'URL = null; crypto = null; Object.defineProperty(globalThis, "TextEncoder", { value: 1, configurable: true }); delete globalThis.Headers', '[typeof URL, typeof crypto.getRandomValues, typeof TextEncoder, typeof Headers]', ['function', 'function', 'function', 'function']],
    ['console counters, timers and groups', 'console.count("c"); console.time("t"); console.group("g")', 'console.count("c"); console.timeEnd("t"); console.log("flush left")', undefined],
    ['artifact and inputs', 'try { artifact.stash = 1; inputs.stash = 2; Object.getPrototypeOf(inputs).stash = 3 } catch {} artifact("a", "text/plain", "x")', '[artifact.stash ?? null, inputs.stash ?? null, ({}).stash ?? null, Object.keys(inputs)]', [null, null, null, []]],
    ['performance marks', 'performance.mark("secret")', 'performance.getEntries().length', 0],
    ['pending AbortSignal.timeout', 'AbortSignal.timeout(1e9).onabort = () => { globalThis.aborted = 1 }', 'await new Promise((r) => setTimeout(r, 2e9)); typeof aborted', 'undefined'],
    ['code mode objects (mcp, tools, McpToolError)', 'try { mcp.callTool = () => "hooked"; tools.up.stash = 1; McpToolError.prototype.stash = 2; mcp.stash = 3 } catch {} tools = null; McpToolError = null', '[mcp.callTool.name, Reflect.ownKeys(tools.up).length, McpToolError.prototype.stash ?? null, mcp.stash ?? null]', ['callTool', 0, null, null]],
    ['WebAssembly memory budget', `new WebAssembly.Memory({ initial: 1, maximum: ${limits.memoryMb * 16} })`, `new WebAssembly.Memory({ initial: 1, maximum: ${limits.memoryMb * 16} }).buffer.byteLength`, 65536],
  ])('%s', async (_, first, second, expected) => {
    await run(first);
    const outcome = await run(second);
    expect(outcome.error).toBeNull();
    if (expected !== undefined) expect(outcome.result).toEqual(expected);
    else expect(outcome.console).toEqual([{ level: 'log', text: 'c: 1' }, { level: 'warn', text: "Warning: No such label 't' for console.timeEnd()" }, { level: 'log', text: 'flush left' }]);
  });

  it('freezes every object of the web platform a run can reach, through its globals or its objects', async () => {
    const outcome = await run(`(() => {
      const P = Object.getPrototypeOf;
      const stream = new ReadableStream();
      const roots = { globals: ${JSON.stringify(WEB_GLOBALS)}.map((n) => globalThis[n]), crypto, subtle: crypto.subtle, performance, navigator,
        hidden: [P(stream.values()), P(new ReadableStream({ type: 'bytes' }).getReader({ mode: 'byob' })), P(new URLSearchParams().entries()), P(new Headers().entries()), P(new WritableStream().getWriter()), P(new ReadableStream().getReader()), P(new URL('https://a.example').searchParams)] };
      const unfrozen = [];
      const seen = new Set();
      const queue = [['', roots]];
      while (queue.length > 0) {
        const [path, o] = queue.pop();
        if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
        seen.add(o);
        // Error is frozen but for stackTraceLimit, which stays writable and is reset before every run.
        const frozen = o === Error ? !Object.isExtensible(o) && Reflect.ownKeys(o).every((k) => { const d = Object.getOwnPropertyDescriptor(o, k); return !d.configurable && (k === 'stackTraceLimit' || !d.writable) }) : Object.isFrozen(o);
        if (o !== roots && o !== roots.globals && o !== roots.hidden && !frozen) unfrozen.push(path);
        queue.push([path + '.__proto__', P(o)]);
        for (const key of Reflect.ownKeys(o)) {
          const d = Object.getOwnPropertyDescriptor(o, key);
          for (const part of [d.value, d.get, d.set]) queue.push([path + '.' + String(key), part]);
        }
      }
      return unfrozen.slice(0, 20);
    })()`);
    expect(outcome.error).toBeNull();
    expect(outcome.result).toEqual([]);
  });

  it('evaluates the web platform the same whatever the run that first touches it did to the globals', async () => {
    const fresh = new IsolatePool({ maxIsolates: 1 });
    try {
      const tampered = await fresh.run(step('Array = null; Symbol = undefined; Object.defineProperty(globalThis, "window", { value: { document: {} } }); globalThis.Buffer = () => { throw new Error("planted") }; new URL("https://a.example/x").href'), limits);
      expect(tampered).toMatchObject({ status: 'completed', result: 'https://a.example/x' });
      const next = await fresh.run(step('[new URL("https://b.example").host, new TextDecoder().decode(new Uint8Array([104, 105])), typeof window]'), limits);
      expect(next.result).toEqual(['b.example', 'hi', 'undefined']);
    } finally {
      fresh.close();
    }
  });

  it('freezes every intrinsic a run can reach, including the hidden ones of newer JavaScript', async () => {
    const outcome = await run(`const P = Object.getPrototypeOf; Object.entries({
      iteratorHelper: P([].values().map((x) => x)), wrapForValidIterator: P(Iterator.from({ next() {} })),
      iterator: Iterator.prototype, arrayIterator: P([].values()), generator: P(function* () {}), asyncGenerator: P(async function* () {}),
      regExpStringIterator: P(/a/g[Symbol.matchAll]('a')), segments: P(new Intl.Segmenter().segment('')),
      float16: Float16Array.prototype, typedArray: P(Int8Array), disposableStack: DisposableStack.prototype,
      asyncDisposableStack: AsyncDisposableStack.prototype, suppressedError: SuppressedError.prototype,
    }).filter(([, o]) => !Object.isFrozen(o)).map(([k]) => k)`);
    expect(outcome.error).toBeNull();
    expect(outcome.result).toEqual([]);
  });

  it('still allows normal code that shadows built-in members', async () => {
    const outcome = await run(`
      class ValidationError extends Error { constructor(m) { super(m); this.name = 'ValidationError' } }
      function P() {}
      P.prototype.toString = function () { return 'P!' };
      const o = { toString() { return 'o!' } };
      o.valueOf = () => 5;
      [new ValidationError('x').name, String(new P()), String(o), o + 1]`);
    expect(outcome.result).toEqual(['ValidationError', 'P!', 'o!', 6]);
  });

  it('starts every run with fresh seeded state', async () => {
    const a = await run('[Math.random(), Date.now()]');
    await run('for (let i = 0; i < 100; i++) Math.random(); Date.now()');
    const b = await run('[Math.random(), Date.now()]');
    expect(b.result).toEqual(a.result);
  });
});

describe('consecutive pooled runs see identical runtime state', () => {
  const probe = 'const t = setTimeout(() => {}, 5); clearTimeout(t); [t, setInterval(() => {}, 1), performance.now(), Math.random(), Date.now()]';
  it('timer ids, clocks and random numbers do not depend on the run before', async () => {
    const fresh = new IsolatePool({ maxIsolates: 1 });
    try {
      const first = await fresh.run(step(probe), limits);
      await pool.run(step('for (let i = 0; i < 5000; i++) setTimeout(() => {}, 1e9); for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 1))'), limits);
      const after = await pool.run(step(probe), limits);
      expect(first.status).toBe('completed');
      expect(after.result).toEqual(first.result);
    } finally {
      fresh.close();
    }
  });
});

describe('host calls of one run never reach the next', () => {
  it('an answer still in flight when a run ends is dropped, not delivered to the next run in the context', async () => {
    const isolated = new IsolatePool({ maxIsolates: 1 });
    const performed: string[] = [];
    const slow: HostCallPerformer = {
      limits: { maxRecordedBytes: 1 << 20, maxAnswerBytes: 1 << 20, maxConcurrent: 8, maxCalls: 64 },
      async perform(request, signal) {
        const url = (request.description as { url: string }).url;
        performed.push(url);
        await new Promise((r) => setTimeout(r, url.endsWith('/slow') ? 300 : 1));
        if (signal.aborted) performed.push(`aborted ${url}`);
        return { answer: { status: 200, statusText: 'OK', headers: [], url, redirected: false }, bytes: new TextEncoder().encode(url) };
      },
    };
    try {
      // The first run fails at once (an uncaught error in a timer) with its fetch still in flight.
      const first = await isolated.run(step("fetch('http://a.test/slow').then(async (r) => { globalThis.leak = await r.text() }); setTimeout(() => { throw new Error('end') }, 0)"), limits, undefined, slow);
      expect(first.status).toBe('failed');
      const second = await isolated.run(
        step("const own = await (await fetch('http://b.test/fast')).text(); await new Promise((r) => setTimeout(r, 500)); [own, typeof leak]"),
        limits,
        undefined,
        slow,
      );
      expect(second.result).toEqual(['http://b.test/fast', 'undefined']);
      expect(second.hostCalls!.map((r) => r.label)).toEqual(['GET http://b.test/fast']);
      await new Promise((r) => setTimeout(r, 400));
      expect(performed).toContain('aborted http://a.test/slow');
    } finally {
      isolated.close();
    }
  });
});
