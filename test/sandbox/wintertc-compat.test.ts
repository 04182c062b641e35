import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunOutcome } from '../../src/sandbox/index.ts';
import { SANDBOX_MODES } from './helpers.ts';

/**
 * The globals of the WinterTC Minimum Common API (the list MCP-V8 scans), each with a check of its
 * basic behaviour that evaluates to true.
 * The score is printed; the test fails on any other global missing or misbehaving.
 */
const CHECKS: Record<string, string> = {
  AbortController: 'new AbortController().signal.aborted === false',
  AbortSignal: 'AbortSignal.abort("r").reason === "r"',
  Blob: '(await new Blob(["ab", new Uint8Array([99])]).text()) === "abc"',
  ByteLengthQueuingStrategy: 'new ByteLengthQueuingStrategy({ highWaterMark: 8 }).size(new Uint8Array(3)) === 3',
  CompressionStream: 'new CompressionStream("gzip").readable instanceof ReadableStream',
  CountQueuingStrategy: 'new CountQueuingStrategy({ highWaterMark: 2 }).highWaterMark === 2',
  Crypto: 'crypto instanceof Crypto',
  CryptoKey: '(await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"])) instanceof CryptoKey',
  CustomEvent: 'new CustomEvent("x", { detail: 5 }).detail === 5',
  DecompressionStream: 'new DecompressionStream("deflate").writable instanceof WritableStream',
  DOMException: 'new DOMException("m", "AbortError").code === 20',
  ErrorEvent: 'new ErrorEvent("error", { message: "m" }).message === "m"',
  Event: 'new Event("x").type === "x"',
  EventTarget: '(() => { const t = new EventTarget(); let n = 0; t.addEventListener("x", () => n++); t.dispatchEvent(new Event("x")); return n === 1 })()',
  File: 'new File(["a"], "a.txt").name === "a.txt"',
  FormData: '(() => { const f = new FormData(); f.append("a", "1"); return f.get("a") === "1" })()',
  Headers: 'new Headers({ "X-A": "1" }).get("x-a") === "1"',
  Navigator: 'navigator instanceof Navigator',
  Performance: 'performance instanceof Performance',
  PerformanceEntry: 'performance.mark("m") instanceof PerformanceEntry',
  PerformanceMark: 'performance.mark("m") instanceof PerformanceMark',
  PerformanceMeasure: 'performance.measure("x") instanceof PerformanceMeasure',
  ReadableByteStreamController: 'typeof ReadableByteStreamController === "function"',
  ReadableStream: '(await new ReadableStream({ start(c) { c.enqueue(1); c.close() } }).getReader().read()).value === 1',
  ReadableStreamBYOBReader: 'new ReadableStream({ type: "bytes" }).getReader({ mode: "byob" }) instanceof ReadableStreamBYOBReader',
  ReadableStreamBYOBRequest: 'typeof ReadableStreamBYOBRequest === "function"',
  ReadableStreamDefaultController: 'typeof ReadableStreamDefaultController === "function"',
  ReadableStreamDefaultReader: 'new ReadableStream().getReader() instanceof ReadableStreamDefaultReader',
  Request: 'new Request("https://a.example/x", { method: "post", body: "b" }).method === "POST"',
  Response: '(await Response.json({ a: 1 }).json()).a === 1',
  SubtleCrypto: 'crypto.subtle instanceof SubtleCrypto',
  TextDecoder: 'new TextDecoder().decode(new Uint8Array([0xe2, 0x82, 0xac])) === "€"',
  TextDecoderStream: 'new TextDecoderStream().encoding === "utf-8"',
  TextEncoder: 'new TextEncoder().encode("€").length === 3',
  TextEncoderStream: 'new TextEncoderStream().encoding === "utf-8"',
  TransformStream: 'new TransformStream().readable instanceof ReadableStream',
  TransformStreamDefaultController: 'typeof TransformStreamDefaultController === "function"',
  URL: 'new URL("../b", "https://a.example/x/y").href === "https://a.example/b"',
  URLPattern: 'new URLPattern({ pathname: "/u/:id" }).exec("https://a.example/u/7").pathname.groups.id === "7"',
  URLSearchParams: 'new URLSearchParams("a=1&b=2").get("b") === "2"',
  WebAssembly: '(await WebAssembly.instantiate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 127, 127, 1, 127, 3, 2, 1, 0, 7, 7, 1, 3, 97, 100, 100, 0, 0, 10, 9, 1, 7, 0, 32, 0, 32, 1, 106, 11]))).instance.exports.add(2, 3) === 5',
  WritableStream: 'new WritableStream().locked === false',
  WritableStreamDefaultController: 'typeof WritableStreamDefaultController === "function"',
  WritableStreamDefaultWriter: 'new WritableStream().getWriter() instanceof WritableStreamDefaultWriter',
  atob: 'atob("aGk=") === "hi"',
  btoa: 'btoa("hi") === "aGk="',
  clearInterval: 'clearInterval(setInterval(() => {}, 10)) === undefined',
  clearTimeout: 'clearTimeout(setTimeout(() => {}, 10)) === undefined',
  console: 'typeof console.table === "function" && typeof console.timeEnd === "function"',
  crypto: '/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID())',
  // No egress rule here: fetch exists and rejects with a TypeError (test/egress covers real requests).
  fetch: 'typeof fetch === "function" && (await fetch("http://example.com/").then(() => false, (e) => e instanceof TypeError))',
  globalThis: 'globalThis.globalThis === globalThis',
  navigator: 'typeof navigator.userAgent === "string" && navigator.hardwareConcurrency >= 1',
  performance: 'typeof performance.now() === "number" && typeof performance.timeOrigin === "number"',
  queueMicrotask: '(await new Promise((r) => queueMicrotask(() => r(true))))',
  reportError: 'typeof reportError === "function"',
  self: 'self === globalThis',
  setInterval: 'await new Promise((r) => { let n = 0; const id = setInterval(() => { if (++n === 3) { clearInterval(id); r(true) } }, 5) })',
  setTimeout: 'await new Promise((r) => setTimeout(() => r(true), 5))',
  structuredClone: '(() => { const a = { m: new Map([[1, new Date(0)]]) }; a.self = a; const b = structuredClone(a); return b.self === b && b.m.get(1).getTime() === 0 })()',
};
const EXPECTED_ABSENT: string[] = [];

async function score(run: (code: string) => Promise<RunOutcome>): Promise<Record<string, string>> {
  const results: Record<string, string> = {};
  for (const [name, check] of Object.entries(CHECKS)) {
    const outcome = await run(`typeof globalThis[${JSON.stringify(name)}] === 'undefined' ? 'absent' : (${check}) === true ? 'ok' : 'wrong'`);
    results[name] = outcome.status === 'completed' ? String(outcome.result) : `failed: ${outcome.error?.name}: ${outcome.error?.message}`;
  }
  return results;
}


describe.each(SANDBOX_MODES)('WinterTC Minimum Common API, %s', (mode, open) => {
  let sandbox: Awaited<ReturnType<typeof open>>;
  beforeAll(async () => {
    sandbox = await open();
  });
  afterAll(() => sandbox.close());

  it('has every global with its basic behaviour', async () => {
    const results = await score(sandbox.run);
    const ok = Object.values(results).filter((r) => r === 'ok').length;
    console.log(`WinterTC Minimum Common API (${mode}): ${ok}/${Object.keys(CHECKS).length}; absent: ${Object.keys(results).filter((k) => results[k] === 'absent').join(', ') || 'none'}`);
    const expected = Object.fromEntries(Object.keys(CHECKS).map((k) => [k, EXPECTED_ABSENT.includes(k) ? 'absent' : 'ok']));
    expect(results).toEqual(expected);
  });
});
