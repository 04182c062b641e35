import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNode } from '../e2e/node.ts';

// Property-based fuzzing of one real node (real HTTP, LevelDB, sandboxes) with what an untrusted
// caller with the run scope can send: malformed REST and JSON-RPC, and sandbox code built from
// hostile fragments. Each property runs for FUZZ_MS (default 3 s; set it higher to fuzz longer) and
// fast-check prints the seed and the shrunk counterexample of a failure (FUZZ_SEED replays it).

const FUZZ_MS = Number(process.env.FUZZ_MS ?? 3_000);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const OUTPUT_BYTES = 64 * 1024;
// The largest answer the caps allow: the output budget shows twice in an execution's view (`output`
// and `console`), and JSON may escape a byte into six characters; plus the record's own fields.
const MAX_ANSWER_BYTES = 2 * 6 * OUTPUT_BYTES + 64 * 1024;
const HEAP_BOUND_BYTES = 1.5 * 1024 ** 3;

let node: Awaited<ReturnType<typeof startTestNode>>;
beforeAll(async () => {
  node = await startTestNode({ maxOutputBytes: OUTPUT_BYTES, maxConcurrent: 2, maxMemoryMb: 128, maxTimeoutSecs: 2 });
});
afterAll(() => node?.stop());

const options = (numRuns: number) => ({ numRuns, interruptAfterTimeLimit: FUZZ_MS, ...(SEED === undefined ? {} : { seed: SEED }) });

interface Answer {
  status: number;
  retryAfter: string | null;
  bytes: number;
  body: unknown;
}

async function send(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Answer> {
  const res = await fetch(node.url + path, {
    method,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {}
  return { status: res.status, retryAfter: res.headers.get('retry-after'), bytes: Buffer.byteLength(text), body: parsed };
}

/**
 * Every answer: a 2xx, a 4xx, or a 503 to retry (a session being rebuilt) with the product's
 * `{error, message}` body; never a crash or a 500.
 */
function expectWellFormed(a: Answer): void {
  if (a.status === 503) expect(a.retryAfter).toMatch(/^\d+$/);
  else expect(a.status, JSON.stringify(a.body).slice(0, 500)).toBeLessThan(500);
  expect(a.bytes).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
  if (a.status >= 400) expect(a.body).toMatchObject({ error: expect.any(String), message: expect.any(String) });
}

/** The next tenant's trivial run still works. */
async function expectHealthy(): Promise<void> {
  const a = await send('POST', '/api/exec', JSON.stringify({ code: '1 + 1', language: 'js', wait: 10_000 }));
  expect(a.status, JSON.stringify(a.body).slice(0, 500)).toBe(200);
  expect(a.body).toMatchObject({ status: 'completed', result: 2 });
  expect(process.memoryUsage().heapUsed).toBeLessThan(HEAP_BOUND_BYTES);
}

const HOSTILE_FRAGMENTS = [
  '"x".repeat(2e6)',
  'throw new Error("A".repeat(2e6))',
  'const e = new Error("m"); e.name = "N".repeat(1e6); e.stack = "S".repeat(1e6); throw e',
  'for (let i = 0; i < 200; i++) console.log("€".repeat(1000))',
  'for (let i = 0; i < 1e5; i++) console.log("")',
  '"😀".repeat(1e5)',
  '[' + '['.repeat(3000) + ']'.repeat(3000) + ']',
  `let deep: number = ${'('.repeat(1500)}1${')'.repeat(1500)}`,
  'for (let i = 0; i < 200; i++) { await new Promise((r) => setTimeout(r, 1)); Promise.reject(new Error("r" + i)) }',
  '(function spin() { Promise.resolve().then(spin) })()',
  'Object.prototype.then = function (resolve) { resolve("forged") }',
  'Object.prototype.toJSON = () => "y".repeat(1e6)',
  'Array.prototype.push = () => 0; Array.prototype[Symbol.iterator] = function* () {}',
  'JSON.stringify = () => "{}"; String.prototype.slice = () => ""',
  'for (let i = 0; i < 5000; i++) setInterval(() => {}, 1)',
  'setTimeout(() => { throw new Error("late") }, 5)',
  'while (true) {}',
  'const hog = []; while (true) hog.push(new Array(1e5).fill(1))',
  'let t: string = "typed"; t',
  'Promise.reject(new Error("unhandled"))',
  'new Proxy({}, { get() { throw new Error("trap") }, ownKeys() { throw new Error("trap") } })',
  'globalThis.x = (x ?? 0) + 1; x',
];

describe('hostile input never crashes, stalls or poisons the node (property)', () => {
  it('sandbox code built from hostile fragments is answered within the caps, and the next run works', async () => {
    const program = fc.record({
      fragments: fc.array(fc.constantFrom(...HOSTILE_FRAGMENTS), { minLength: 1, maxLength: 3 }),
      language: fc.constantFrom('js', 'ts'),
      session: fc.option(fc.constantFrom('fuzz-a', 'fuzz-b'), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(program, async ({ fragments, language, session }) => {
        const body = { code: fragments.join(';\n'), language, execution_timeout_secs: 0.5, heap_memory_max_mb: 64, wait: 20_000, ...(session ? { session } : {}) };
        expectWellFormed(await send('POST', '/api/exec', JSON.stringify(body)));
        await expectHealthy();
      }),
      options(200),
    );
  }, 120_000);

  it('malformed REST requests are answered 2xx/4xx with a JSON error', async () => {
    const json = fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.string(), fc.constant('{"code": '), fc.constant('[]'));
    const runBody = fc
      .record(
        {
          code: fc.oneof(fc.string(), fc.integer(), fc.constant(''), fc.constant(null)),
          language: fc.oneof(fc.constantFrom('js', 'ts'), fc.string()),
          session: fc.oneof(fc.string(), fc.constant('ok'), fc.integer()),
          heap: fc.string(),
          heap_memory_max_mb: fc.oneof(fc.integer(), fc.double()),
          execution_timeout_secs: fc.oneof(fc.double(), fc.integer({ min: -5, max: 5 })),
          tags: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue()),
          wait: fc.oneof(fc.integer({ min: -10, max: 100 }), fc.string()),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o));
    const segment = fc.oneof(fc.string(), fc.constantFrom('..', '%', '%00', '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b', 'x'.repeat(300)));
    const query = fc.dictionary(fc.constantFrom('limit', 'cursor', 'status', 'tag', 'session', 'wait', 'byte_offset', 'byte_limit', 'line_offset', 'line_limit', 'steps_cursor', 'steps_limit', 'x'), fc.string(), { maxKeys: 4 });
    const request = fc.oneof(
      fc.tuple(fc.constant('POST'), fc.constant('/api/exec'), fc.oneof(runBody, json)),
      fc.tuple(fc.constantFrom('GET', 'DELETE'), fc.constant('/api/executions'), fc.constant(undefined)),
      fc.tuple(fc.constantFrom('GET', 'POST'), segment.map((s) => `/api/executions/${encodeURIComponent(s)}`), fc.option(json, { nil: undefined })),
      fc.tuple(fc.constant('GET'), segment.map((s) => `/api/executions/${encodeURIComponent(s)}/output`), fc.constant(undefined)),
      fc.tuple(fc.constant('POST'), segment.map((s) => `/api/executions/${encodeURIComponent(s)}/cancel`), fc.constant(undefined)),
      fc.tuple(fc.constantFrom('GET', 'DELETE'), segment.map((s) => `/api/sessions/${encodeURIComponent(s)}`), fc.constant(undefined)),
      fc.tuple(fc.constant('GET'), fc.constant('/api/sessions'), fc.constant(undefined)),
    );
    await fc.assert(
      fc.asyncProperty(request, query, async ([method, path, body], q) => {
        const a = await send(method, `${path}?${new URLSearchParams(q)}`, method === 'GET' || method === 'DELETE' ? undefined : body);
        expectWellFormed(a);
      }),
      options(1_000),
    );
    await expectHealthy();
  }, 120_000);

  it('malformed JSON-RPC is answered with a JSON-RPC error or result, never a 5xx', async () => {
    const id = fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant(1));
    const params = fc.oneof(
      fc.jsonValue(),
      fc.record({ name: fc.oneof(fc.constantFrom('run_js', 'get_execution', 'list_executions', 'get_execution_output', 'nope'), fc.jsonValue()), arguments: fc.jsonValue() }, { requiredKeys: [] }),
    );
    const message = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant('2.0'), fc.string()),
        id,
        method: fc.oneof(fc.constantFrom('tools/call', 'tools/list', 'initialize', 'ping', 'notifications/initialized', 'resources/list'), fc.string()),
        params,
      },
      { requiredKeys: ['jsonrpc', 'method'] },
    );
    const body = fc.oneof(message, fc.array(message, { maxLength: 4 }), fc.jsonValue());
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const a = await send('POST', '/mcp', JSON.stringify(b));
        expect(a.status, JSON.stringify(a.body).slice(0, 500)).toBeLessThan(500);
        expect(a.bytes).toBeLessThanOrEqual(MAX_ANSWER_BYTES);
        if (a.status === 200) expect(Array.isArray(b) ? Array.isArray(a.body) : typeof a.body === 'object').toBe(true);
      }),
      options(1_000),
    );
    await expectHealthy();
  }, 120_000);
});
