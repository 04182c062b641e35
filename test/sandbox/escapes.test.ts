import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorAnswer, IsolatePool, IsolateShares, LiveSession, PackageSet, type HostCallAnswer, type HostCallPerformer, type RunOutcome } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';
import { WEB_CONSTRUCTORS, WEB_GLOBALS } from './web-globals.ts';

/**
 * Each attempt is an expression that tries to reach a host capability. It is run as
 * `typeof (attempt)?.dlopen`: "function" would mean it got hold of Node's `process` (the sandbox's
 * own `process` has no dlopen or binding).
 */
const processAttempts: Record<string, string> = {
  'constructor chain from this': "this.constructor.constructor('return process')()",
  'Function from a bridge (console.log)': "console.log.constructor('return process')()",
  'Function from a bridge (setTimeout)': "setTimeout.constructor('return process')()",
  'Function from a Promise': "Promise.resolve().constructor.constructor('return process')()",
  'async function constructor': "(async () => {}).constructor('return process')()",
  'generator function constructor': "(function* () {}).constructor('return process')().next().value",
  'global this via Function': "Function('return this')().process",
  'eval': "eval('process')",
  'indirect eval': "(0, eval)('globalThis.process')",
  'require': "require('child_process')",
  'module / exports': '[typeof module, typeof exports, typeof __dirname, typeof Buffer].includes("object") ? process : undefined',
  'globalThis.process': 'globalThis.process',
  'prototype walk of console': "Object.getPrototypeOf(console).constructor.constructor('return process')()",
  'caller chain': "(function f() { let c = f; const seen = []; while (c && seen.length < 20) { seen.push(c); try { c = c.caller } catch { c = null } } return seen.map(s => { try { return s.constructor('return process')() } catch { return undefined } }).find(Boolean) })()",
  'arguments.callee.caller': "(function () { try { return arguments.callee.caller?.caller?.constructor('return process')() } catch { return undefined } })()",
  'Error.prepareStackTrace call sites': `(() => {
      const original = Error.prepareStackTrace;
      try { Error.prepareStackTrace = (_, frames) => frames; } catch { return undefined }
      const frames = new Error().stack;
      Error.prepareStackTrace = original;
      if (!Array.isArray(frames)) return undefined;
      for (const f of frames) {
        for (const candidate of [f.getThis?.(), f.getFunction?.()]) {
          try { const p = candidate?.constructor?.constructor('return process')(); if (p) return p } catch {}
          if (candidate?.process) return candidate.process;
        }
      }
    })()`,
  'getter passed to console': "(() => { let got; console.log({ get x() { got = this.constructor.constructor('return process')(); return 1 } }); return got })()",
  'proxy passed to console': "(() => { let got; try { console.log(new Proxy({}, { ownKeys(t) { got = t.constructor.constructor('return process')(); return [] } })) } catch {} return got })()",
  'toString passed to console %s': "(() => { let got; console.log('%s', { toString() { got = this.constructor.constructor('return process')(); return 'x' } }); return got })()",
  'string callback to setTimeout': "(() => { try { setTimeout('globalThis.p = process', 1) } catch {} return globalThis.p })()",
  'timer callback this': '(() => { let got; setTimeout(function () { got = this }, 1); return got })()',
  // Built-ins new in V8 12-13 (Node 24): their constructors and hidden prototypes are the isolate's own.
  'iterator helper constructor chain': "[].values().map((x) => x).constructor.constructor('return process')()",
  'wrapped iterator constructor chain': "Object.getPrototypeOf(Iterator.from({ next() {} })).constructor.constructor('return process')()",
  'Iterator.from of a getter': "(() => { let got; Iterator.from({ get next() { got = this.constructor.constructor('return process')(); return () => ({ done: true }) } }).toArray(); return got })()",
  'Promise.withResolvers / Promise.try': "Promise.withResolvers().promise.constructor.constructor('return process')() ?? Promise.try(() => 1).constructor.constructor('return process')()",
  'Object.groupBy callback this': "(() => { let got; Object.groupBy([1], function () { got = this; return 'k' }); return got })()",
  'DisposableStack callback this': "(() => { let got; const s = new DisposableStack(); s.defer(function () { got = this }); s.dispose(); return got })()",
  'Error.captureStackTrace frames': "(() => { const o = {}; Error.captureStackTrace(o); return typeof o.stack === 'string' ? undefined : o.stack })()",
  'Array.fromAsync of a thenable': "(() => { let got; Array.fromAsync({ length: 1, 0: { then(r) { got = this.constructor.constructor('return process')(); r(1) } } }); return got })()",
  // Module objects: every bundle runs in the isolate; its functions' constructors are the isolate's own.
  'require of a module': "require('buffer').Buffer.constructor.constructor('return process')()",
  'module namespace prototype': "(async () => Object.getPrototypeOf(await import('node:util')))()",
  'module function constructor': "(() => { const u = require('util'); return u.promisify.constructor('return process')() })()",
  'event emitter listener this': "(() => { const { EventEmitter } = require('events'); let got; const e = new EventEmitter(); e.on('x', function () { got = this.constructor.constructor('return process')() }); e.emit('x'); return got })()",
  'process module': "require('node:process')",
  'refused built-in': "(() => { try { return require('child_process') } catch { return undefined } })()",
  'Function from fetch': "fetch.constructor('return process')()",
  'a fetched Response': "(await fetch('http://upstream.test/')).constructor.constructor('return process')()",
  'a fetched Response\'s headers and body': "await (async () => { const r = await fetch('http://upstream.test/'); const h = r.headers; const b = await r.arrayBuffer(); return [h, b, [...h][0]].map((x) => x.constructor.constructor('return process')()).find((p) => p?.dlopen) })()",
  'a fetched JSON body': "(await (await fetch('http://upstream.test/')).json()).constructor.constructor('return process')()",
  'a fetch rejection': "await fetch('http://upstream.test/fail').then(() => undefined, (e) => e.constructor.constructor('return process')())",
  'Function from mcp.callTool': "mcp.callTool.constructor('return process')()",
  'a typed tool function': "tools.any.tool.constructor('return process')()",
  'the tools proxy': "Object.getPrototypeOf(tools)?.constructor?.constructor('return process')() ?? Object.getPrototypeOf(tools.any)",
  'an upstream tool answer': "(await mcp.callTool('up', 'json', {})).constructor.constructor('return process')()",
  'an upstream image part': "(await tools.up.image({}))[1].data.constructor.constructor('return process')()",
  'an McpToolError': "await tools.up.fail({}).then(() => undefined, (e) => e.content.constructor.constructor('return process')() ?? e.constructor.constructor('return process')())",
  'a listed tool': "(await mcp.listTools('up'))[0].inputSchema.constructor.constructor('return process')()",
  'stream callback this': "(() => { const { Readable } = require('stream'); let got; Readable.from(['a']).on('data', function () { got = this.constructor.constructor('return process')() }); return got })()",
};


// Brotli takes a context's whole WebAssembly budget on first use (src/sandbox/README.md), so its
// attempts get contexts of their own, apart from the WebAssembly memory checks below.
const brotliAttempts: Record<string, string> = {
  'brotli result and its functions': "(() => { const z = require('zlib'); return [z.brotliCompressSync('x'), z.brotliCompressSync].map((x) => x.constructor.constructor('return process')()).find((p) => p?.dlopen) })()",
  'a brotli stream': "(() => { const s = require('zlib').createBrotliCompress(); return s.constructor.constructor('return process')() })()",
};

// Answers every fetch from the host (so answers really cross the channel): a JSON body, or an error
// answer for a URL ending in /fail.
const fakeUpstream: HostCallPerformer = {
  limits: { maxRecordedBytes: 1 << 20, maxAnswerBytes: 1 << 20, maxConcurrent: 8, maxCalls: 64 },
  async perform(request) {
    if (request.kind === 'mcp') return fakeMcp(request.description as { op: string; tool?: string });
    const url = (request.description as { url: string }).url;
    if (url.endsWith('/fail')) return errorAnswer('TypeError', 'fetch failed');
    const answer = { status: 200, statusText: 'OK', headers: [['content-type', 'application/json']], url, redirected: false };
    return { answer, bytes: new TextEncoder().encode('{"a":[1,{"b":2}]}') };
  },
};

// Answers code mode's calls as an upstream server would (src/upstream/tool-answers.ts shapes them).
function fakeMcp(d: { op: string; tool?: string }): HostCallAnswer {
  if (d.op === 'listTools') return { answer: { value: [{ name: 'json', inputSchema: { type: 'object' } }] } };
  if (d.tool === 'fail') return { answer: { toolError: { message: 'up.fail failed: no', content: ['no', { type: 'image', mimeType: 'image/png', offset: 0, length: 2 }] } }, bytes: new Uint8Array([1, 2]) };
  if (d.tool === 'image') return { answer: { content: ['a pixel', { type: 'image', mimeType: 'image/png', offset: 0, length: 3 }] }, bytes: new Uint8Array([1, 2, 3]) };
  return { answer: { value: { a: [1, { b: 2 }] } } };
}

// The Node built-ins, bundled into a temporary store (no approved packages).
let packages: PackageSet;
const store = mkdtempSync(join(tmpdir(), 'raftbox-escapes-'));
beforeAll(async () => {
  packages = await PackageSet.load({ packages: [], packagesDir: store, storeDir: store });
});
afterAll(() => rmSync(store, { recursive: true, force: true }));

const modes: Array<[string, () => Promise<{ run(code: string): Promise<RunOutcome>; close(): void }>]> = [
  [
    'pooled context',
    async () => {
      const pool = new IsolatePool({ maxIsolates: 1, packages });
      return { run: (code) => pool.run(step(code), limits, undefined, fakeUpstream), close: () => pool.close() };
    },
  ],
  [
    'session context',
    async () => {
      const session = await LiveSession.create(64, packages);
      return { run: (code) => session.run(step(code), limits, undefined, fakeUpstream), close: () => session.dispose() };
    },
  ],
  [
    'session context in an isolate shared with another session (--sessions-per-isolate)',
    async () => {
      const shares = new IsolateShares(2);
      const neighbour = await LiveSession.create(64, packages, shares.take('session:alice', 64));
      await neighbour.run(step('let neighbourSecret = "s3"; globalThis.neighbourGlobal = "s3"'), limits);
      const session = await LiveSession.create(64, packages, shares.take('session:alice', 64));
      return {
        run: (code) => session.run(step(code), limits, undefined, fakeUpstream),
        close: () => {
          session.dispose();
          neighbour.dispose();
        },
      };
    },
  ],
];

/** The attempt's value, awaited, is not Node's `process` (it has no `dlopen`). */
async function reachesNoProcess(sandbox: { run(code: string): Promise<RunOutcome> }, attempt: string): Promise<void> {
  const outcome = await sandbox.run(`let got; try { got = typeof (await (${attempt}))?.dlopen } catch (e) { got = 'threw ' + e?.name } got`);
  expect(outcome.status).toBe('completed');
  expect(outcome.result).not.toBe('function');
}

describe.each(modes)('brotli escape attempts in a %s', (_, open) => {
  let sandbox: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    sandbox = await open();
  });
  afterAll(() => sandbox.close());

  it.each(Object.entries(brotliAttempts))('%s', (_, attempt) => reachesNoProcess(sandbox, attempt));
});

describe.each(modes)('escape attempts in a %s', (_, open) => {
  let sandbox: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    sandbox = await open();
  });
  afterAll(() => sandbox.close());

  it.each(Object.entries(processAttempts))('%s', (_, attempt) => reachesNoProcess(sandbox, attempt));

  // Every object reachable from each new constructor (prototype chains, static and prototype members,
  // accessors), and the errors the new APIs throw or reject with, is the isolate's own: none of their
  // Function constructors gives Node's process.
  it('prototype walks from every web platform constructor reach no host object', async () => {
    const outcome = await sandbox.run(`(() => {
      const reached = [];
      const tryAll = (label, value) => {
        try {
          const p = value?.constructor?.constructor?.('return typeof process === "undefined" ? undefined : process')();
          if (typeof p?.dlopen === 'function') reached.push(label);
        } catch {}
      };
      for (const name of ${JSON.stringify([...WEB_CONSTRUCTORS, 'Navigator', 'navigator', 'atob', 'btoa', 'structuredClone', 'crypto', 'performance', 'reportError', 'self', 'fetch', 'mcp', 'tools', 'McpToolError'])}) {
        const accessor = Object.getOwnPropertyDescriptor(globalThis, name);
        tryAll(name + ' accessor', accessor?.get);
        const seen = new Set();
        const queue = [[name, globalThis[name]]];
        while (queue.length > 0 && seen.size < 5000) {
          const [label, o] = queue.pop();
          if ((typeof o !== 'object' && typeof o !== 'function') || o === null || seen.has(o)) continue;
          seen.add(o);
          tryAll(label, o);
          if (typeof o === 'function') tryAll(label + '()', { constructor: o });
          queue.push([label + '.__proto__', Object.getPrototypeOf(o)]);
          for (const key of Reflect.ownKeys(o)) {
            const d = Object.getOwnPropertyDescriptor(o, key);
            for (const part of [d.value, d.get, d.set]) queue.push([label + '.' + String(key), part]);
          }
        }
      }
      return reached;
    })()`);
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toEqual([]);
  });

  it('errors and results of the web platform reach no host object', async () => {
    const outcome = await sandbox.run(`await (async () => {
      const reached = [];
      const probe = (label, value) => {
        try { if (value?.constructor?.constructor?.('return typeof process === "undefined" ? undefined : process')()?.dlopen) reached.push(label) } catch {}
        try { if (Object.getPrototypeOf(value)?.constructor?.constructor?.('return typeof process === "undefined" ? undefined : process')()?.dlopen) reached.push(label + ' proto') } catch {}
      };
      const sync = {
        url: () => new URL('::'), atob: () => atob('*'), clone: () => structuredClone(() => 1), decoder: () => new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff])),
        label: () => new TextDecoder('nope'), headers: () => new Headers({ 'bad name': 'x' }), response: () => new Response(null, { status: 99 }),
        request: () => new Request('/relative'), signal: () => AbortSignal.abort().throwIfAborted(), pattern: () => new URLPattern('(('),
        compression: () => new CompressionStream('zip'), event: () => new Event(),
      };
      for (const [label, f] of Object.entries(sync)) { try { probe(label + ' result', f()) } catch (e) { probe(label, e) } }
      const asyncs = {
        digest: () => crypto.subtle.digest('SHA-3', new Uint8Array(1)),
        importKey: () => crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['sign']),
        decrypt: async () => crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, await crypto.subtle.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['decrypt']), new Uint8Array(32)),
        sign: async () => crypto.subtle.sign('HMAC', await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, true, ['sign']), new Uint8Array(1)),
        inflate: () => new Response(new Blob([new Uint8Array([1, 2, 3])]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer(),
        body: async () => { const r = new Response('x'); await r.text(); return r.text() },
      };
      for (const [label, f] of Object.entries(asyncs)) { try { probe(label + ' result', await f()) } catch (e) { probe(label, e) } }
      return reached;
    })()`);
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toEqual([]);
  });

  it("the host-call channel's functions are out of user code's reach", async () => {
    const outcome = await sandbox.run(
      `['hostCall', 'hostYield', 'startHostCall', 'deliverHostCall', 'waitForHostCall', 'driver', 'readWebSource'].filter((n) => n in globalThis || (() => { try { return typeof eval(n) !== 'undefined' } catch { return false } })())`,
    );
    expect(outcome.result).toEqual([]);
    // The fetch and mcp attempts above did reach the host and got its answers.
    expect((await sandbox.run("(await (await fetch('http://upstream.test/')).json()).a[1].b")).result).toBe(2);
    expect((await sandbox.run("[(await mcp.callTool('up', 'json', {})).a[1].b, (await tools.up.image({}))[1].data.length]")).result).toEqual([2, 3]);
  });

  it('dynamic import of a refused built-in is refused', async () => {
    const outcome = await sandbox.run("await import('node:fs').then(() => 'loaded', (e) => e.message)");
    expect(outcome.result).toBe('node:fs is not available in the sandbox: the sandbox has no file system');
  });

  it('exposes only standard globals and the installed bridges', async () => {
    const outcome = await sandbox.run('Reflect.ownKeys(globalThis).map(String)');
    const standard = new Set(Reflect.ownKeys(globalThis).map(String));
    const installed = ['console', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask', 'performance', 'crypto', 'WeakRef', 'FinalizationRegistry', 'require', 'self', 'reportError', 'artifact', 'inputs', 'mcp', 'tools', 'McpToolError', ...WEB_GLOBALS];
    // `got` is declared by the attempts above (a session keeps it).
    const unexpected = (outcome.result as string[]).filter((k) => !standard.has(k) && !installed.includes(k) && k !== 'got');
    expect(unexpected).toEqual([]);
    const processOf = await sandbox.run('[typeof process.dlopen, typeof process.binding, Object.keys(process.env).length]');
    expect(processOf.result).toEqual(['undefined', 'undefined', 0]);
  });

  it('has no shared memory or Atomics, and WebAssembly cannot make any', async () => {
    const outcome = await sandbox.run('[typeof SharedArrayBuffer, typeof Atomics, typeof WebAssembly]');
    expect(outcome.result).toEqual(['undefined', 'undefined', 'object']);
    // (module (memory 1 1 shared)) and (module (import "e" "m" (memory 1 1 shared)))
    const refused = await sandbox.run(`[
      () => new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }),
      () => new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 4, 1, 3, 1, 1])),
      () => new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 2, 9, 1, 1, 101, 1, 109, 2, 3, 1, 1])),
    ].map((f) => { try { const m = f(); return Object.prototype.toString.call(m.buffer) } catch (e) { return e.name + ': ' + e.message } })`);
    expect(refused.result).toEqual([
      'TypeError: WebAssembly.Memory(): shared memory is not available in this sandbox',
      'CompileError: memory: shared memory is not available in this sandbox',
      'CompileError: imported memory: shared memory is not available in this sandbox',
    ]);
  });

  it('holds WebAssembly memory to the isolate memory limit (isolated-vm does not count it)', async () => {
    // (module (memory (export "m") 1)): declared without a maximum, it is given one within the limit.
    const outcome = await sandbox.run(`(() => {
      const bytes = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 109, 2, 0]);
      const m = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.m;
      let error = null;
      try { for (let i = 0; i < 1000; i++) m.grow(64) } catch (e) { error = e.name }
      let second = null;
      try { new WebAssembly.Memory({ initial: 1 }) } catch (e) { second = e.name }
      return [error, m.buffer.byteLength <= ${limits.memoryMb} * 1024 * 1024, second];
    })()`);
    expect(outcome.result).toEqual(['RangeError', true, 'RangeError']);
  });

  it('survives a stack overflow and a thrown getter in the result', async () => {
    expect((await sandbox.run('function r() { r() } r()')).error?.name).toBe('RangeError');
    const odd = await sandbox.run('new Proxy({}, { ownKeys() { throw new Error("trap") }, getPrototypeOf() { throw new Error("trap") } })');
    expect(odd.status).toBe('completed');
    expect(odd.resultText).toContain('could not be inspected');
    const shifty = await sandbox.run("new Proxy({}, { get: (t, k) => (k === 'toJSON' ? () => undefined : undefined) })");
    expect(shifty).toMatchObject({ status: 'completed', result: null });
    const thrown = await sandbox.run("throw new Proxy({}, { get() { throw new Error('trap') } })");
    expect(thrown).toMatchObject({ status: 'failed', error: { name: 'Error' } });
  });

  it('artifact() and inputs lead nowhere outside the isolate', async () => {
    const outcome = await sandbox.run(`[
      typeof hostOutput, typeof sendToHost,
      artifact.constructor('return this')() === globalThis,
      Object.getPrototypeOf(inputs) === Object.prototype,
      (() => { try { artifact("p", "text/plain", new Proxy(new Uint8Array(3), {})) } catch (e) { return e.name } })(),
      (() => { try { artifact("q", "text/plain", { get buffer() { throw 1 }, byteLength: 1 }) } catch (e) { return e.name } })(),
    ]`);
    expect(outcome.result).toEqual(['undefined', 'undefined', true, true, 'TypeError', 'TypeError']);
    expect(outcome.artifacts).toBeUndefined();
  });

  it('cannot reach the host by polluting prototypes', async () => {
    await sandbox.run('try { Object.prototype.hostPolluted = 1 } catch {}');
    expect(({} as Record<string, unknown>).hostPolluted).toBeUndefined();
    expect((await sandbox.run('1 + 1')).result).toBe(2);
  });
});
