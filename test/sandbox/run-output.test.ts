import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool, LiveSession, type ConsoleLine, type StepInputs } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const pool = new IsolatePool({ maxIsolates: 2 });
afterAll(() => pool.close());

const csv = (text: string): StepInputs => ({ files: { data: { mimeType: 'text/csv', data: new TextEncoder().encode(text) } } });

describe('output a stopped run keeps', () => {
  it.each([
    ['timeout', 'console.log("before"); while (true) {}', { cpuTimeoutMs: 100 }],
    ['timeout', 'console.log("before"); await new Promise((r) => setTimeout(r, 1e9)); for (;;) await null', { cpuTimeoutMs: 100 }],
    ['memory_limit', 'console.log("before"); const keep = []; while (true) keep.push(new Array(10000).fill(1))', { memoryMb: 16 }],
  ])('%s: %s', async (status, code, overrides) => {
    const outcome = await pool.run(step(code), { ...limits, ...overrides });
    expect(outcome.status).toBe(status);
    expect(outcome.console).toEqual([{ level: 'log', text: 'before' }]);
  });

  it('cancelled: everything printed before its last yield to the host, in order', async () => {
    const controller = new AbortController();
    const seen: ConsoleLine[] = [];
    const code = 'for (let i = 0; i < 3; i++) console.log("line", i); console.error("last"); await new Promise((r) => setTimeout(r, 0)); while (true) {}';
    const running = pool.run(step(code), { ...limits, cpuTimeoutMs: 60_000, wallTimeoutMs: 60_000 }, controller.signal, undefined, {
      onConsole: (line) => {
        seen.push(line);
        if (line.text === 'last') controller.abort();
      },
    });
    const outcome = await running;
    expect(outcome.status).toBe('cancelled');
    const printed = [...[0, 1, 2].map((i) => ({ level: 'log', text: `line ${i}` })), { level: 'error', text: 'last' }];
    expect(outcome.console).toEqual(printed);
    expect(seen).toEqual(printed);
  });

  it('a synchronous hang keeps the batches sent before it: 1, 2 and 4 lines; the unsent tail is lost', async () => {
    // Lines go in batches of 1, 2, 4, ... (console.js): of 10 lines printed without a yield, the first
    // 7 have reached the host when the loop hangs; lines 7-9 wait for a batch of 8 that never fills.
    const outcome = await pool.run(step('for (let i = 0; i < 10; i++) console.log(i); while (true) {}'), { ...limits, cpuTimeoutMs: 100 });
    expect(outcome.status).toBe('timeout');
    expect(outcome.console.map((l) => l.text)).toEqual(['0', '1', '2', '3', '4', '5', '6']);
  });

  it('a flood of lines sent in batches reaches the hook whole and in order', async () => {
    const seen: ConsoleLine[] = [];
    const outcome = await pool.run(step('for (let i = 0; i < 20000; i++) console.log(i); 1'), { ...limits, maxOutputBytes: 1 << 20 }, undefined, undefined, { onConsole: (l) => seen.push(l) });
    expect(outcome.consoleTruncated).toBe(false);
    expect(outcome.console).toHaveLength(20000);
    expect(seen).toEqual(outcome.console);
  });

  it('a session step stopped by its time limit keeps its output too', async () => {
    const session = await LiveSession.create(32);
    const outcome = await session.run(step('console.log("in session"); while (true) {}'), { ...limits, cpuTimeoutMs: 100 });
    expect(outcome).toMatchObject({ status: 'timeout', console: [{ level: 'log', text: 'in session' }] });
  });

  it('the output cap holds for streamed lines: the cut is marked and kept', async () => {
    const outcome = await pool.run(step('for (let i = 0; i < 1e6; i++) console.log("x".repeat(100)); while (true) {}'), { ...limits, cpuTimeoutMs: 500, maxOutputBytes: 4096 });
    expect(outcome.status).toBe('timeout');
    expect(outcome.consoleTruncated).toBe(true);
    expect(outcome.console.at(-1)?.text).toContain('console output truncated');
    expect(outcome.console.reduce((n, l) => n + l.text.length, 0)).toBeLessThan(4096 + 100);
  });

  it('a finished run hands its hook the same lines as its outcome', async () => {
    const seen: ConsoleLine[] = [];
    const outcome = await pool.run(step('console.log("a"); await new Promise((r) => setTimeout(r, 10)); console.warn("b"); 1'), limits, undefined, undefined, { onConsole: (l) => seen.push(l) });
    expect(outcome.console).toEqual([{ level: 'log', text: 'a' }, { level: 'warn', text: 'b' }]);
    expect(seen).toEqual(outcome.console);
  });
});

describe('artifacts', () => {
  it('artifact() attaches bytes, strings and views; a file completion value becomes result.<ext>', async () => {
    const outcome = await pool.run(
      step(`artifact("a.txt", "text/plain", "héllo");
        artifact("b.bin", "application/octet-stream", new Uint8Array([9, 1, 2, 3]).subarray(1, 3));
        artifact("c.dat", "Application/X-Thing", new DataView(new Uint8Array([5, 6, 7]).buffer, 1));
        ({ mimeType: "image/png", data: new Uint8Array([137, 80, 78, 71]).buffer })`),
      limits,
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toEqual({ artifact: 'result.png', mimeType: 'image/png', size: 4 });
    expect(outcome.artifacts?.map((a) => [a.name, a.mimeType, [...a.data]])).toEqual([
      ['a.txt', 'text/plain', [...new TextEncoder().encode('héllo')]],
      ['b.bin', 'application/octet-stream', [1, 2]],
      ['c.dat', 'application/x-thing', [6, 7]],
      ['result.png', 'image/png', [137, 80, 78, 71]],
    ]);
  });

  it('a Blob completion value keeps its type', async () => {
    const outcome = await pool.run(step('new Blob(["x,y\\n1,2"], { type: "text/csv" })'), limits);
    expect(outcome.result).toEqual({ artifact: 'result.csv', mimeType: 'text/csv', size: 7 });
    expect(new TextDecoder().decode(outcome.artifacts![0]!.data)).toBe('x,y\n1,2');
  });

  it('an object that only looks like a file stays a plain result', async () => {
    const outcome = await pool.run(step('({ mimeType: "text/plain", data: "x", extra: 1 })'), limits);
    expect(outcome.result).toEqual({ mimeType: 'text/plain', data: 'x', extra: 1 });
    expect(outcome.artifacts).toBeUndefined();
  });

  it('the per-run cap is a clear error in the step, and what fit is kept', async () => {
    const outcome = await pool.run(
      step('artifact("small", "text/plain", "12345"); try { artifact("big", "text/plain", "x".repeat(20)) } catch (e) { console.log(e.name, e.message) } ({ mimeType: "text/plain", data: "x".repeat(20) })'),
      { ...limits, maxArtifactBytes: 10 },
    );
    expect(outcome.console[0]?.text).toBe("RangeError artifact big (20 bytes) is over this run's artifact limit of 10 bytes (5 left)");
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.message).toContain('artifact result.txt (20 bytes) is over');
    expect(outcome.artifacts?.map((a) => a.name)).toEqual(['small']);
  });

  it.each([
    ['a bad name', 'artifact("../x", "text/plain", "x")', 'artifact name must be'],
    ['a bad media type', 'artifact("x", "png", "x")', 'mimeType must be a media type'],
    ['a reused name', 'artifact("x", "text/plain", "x"); artifact("x", "text/plain", "y")', 'already attached'],
    ['data of another kind', 'artifact("x", "text/plain", { length: 3 })', 'artifact data must be'],
    ['a fake Blob', 'artifact("x", "text/plain", Object.create(Blob.prototype))', 'Illegal invocation'],
    ['too few arguments', 'artifact("x", "text/plain")', '3 arguments required'],
  ])('refuses %s', async (_, code, message) => {
    const outcome = await pool.run(step(code), limits);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.message).toContain(message);
  });

  it('an artifact attached before a timeout is kept', async () => {
    const outcome = await pool.run(step('artifact("partial.txt", "text/plain", "so far"); while (true) {}'), { ...limits, cpuTimeoutMs: 100 });
    expect(outcome.status).toBe('timeout');
    expect(outcome.artifacts?.map((a) => a.name)).toEqual(['partial.txt']);
  });

  it('replay re-creates no artifact but throws the same cap error, so state matches', async () => {
    const code = 'globalThis.made = []; for (const n of ["a", "b"]) { try { artifact(n, "text/plain", "123456"); made.push(n) } catch { made.push("over") } }';
    const live = await LiveSession.create(32);
    const first = await live.run(step(code), { ...limits, maxArtifactBytes: 10 });
    expect(first.artifacts?.map((a) => a.name)).toEqual(['a']);
    const rebuilt = await LiveSession.create(32);
    await rebuilt.replay([step(code)], { maxArtifactBytes: 10 });
    const again = await rebuilt.run(step('made'), limits);
    expect(again.result).toEqual(['a', 'over']);
    expect(again.artifacts).toBeUndefined();
    live.dispose();
    rebuilt.dispose();
  });
});

describe('inputs', () => {
  it('named values are frozen copies and files are Files', async () => {
    const inputs: StepInputs = { values: { params: { n: [1, 2] } }, ...csv('a,b\n1,2') };
    const outcome = await pool.run(
      step('const f = inputs.data; [inputs.params, Object.isFrozen(inputs.params.n), await f.text(), f.type, f.name, f.size, f instanceof File, Reflect.set(inputs, "x", 1)]', { inputs }),
      limits,
    );
    expect(outcome.result).toEqual([{ n: [1, 2] }, true, 'a,b\n1,2', 'text/csv', 'data', 7, true, false]);
  });

  it('a run without inputs sees an empty object, also right after a run with some', async () => {
    await pool.run(step('inputs.data.size', { inputs: csv('secret') }), limits);
    const outcome = await pool.run(step('[typeof inputs, Object.keys(inputs)]'), limits);
    expect(outcome.result).toEqual(['object', []]);
  });

  it('a session step reads its inputs; replay hands the step the same ones', async () => {
    const code = 'globalThis.rows = (await inputs.data.text()).split("\\n").map((r) => r.split(",")); rows.length';
    const session = await LiveSession.create(32);
    expect((await session.run(step(code, { inputs: csv('a,b\n1,2\n3,4') }), limits)).result).toBe(3);
    const rebuilt = await LiveSession.create(32);
    await rebuilt.replay([step(code, { inputs: csv('a,b\n1,2\n3,4') })]);
    expect((await rebuilt.run(step('[rows[2], Object.keys(inputs)]'), limits)).result).toEqual([['3', '4'], []]);
    session.dispose();
    rebuilt.dispose();
  });
});
