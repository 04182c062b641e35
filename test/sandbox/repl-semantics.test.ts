import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const pool = new IsolatePool({ maxIsolates: 2 });
afterAll(() => pool.close());
const run = (code: string, language: 'js' | 'ts' = 'js') => pool.run(step(code, { language }), limits);

describe('completion value', () => {
  it.each([
    ['1 + 1', 2],
    ['let x = 5; x * 2', 10],
    ['const o = { a: [1, "b", null] }; o', { a: [1, 'b', null] }],
    ['{ a: 1, b: 2 }', { a: 1, b: 2 }],
    ['if (true) { "yes" } else { "no" }', 'yes'],
    ['let s = 0; for (let i = 0; i < 4; i++) { s += i } s', 6],
    ['x = 3; let y = 4', 3],
    ['await Promise.resolve(41) + 1', 42],
    ['[1, 2, 3].map(n => n * 2)', [2, 4, 6]],
  ])('%s', async (code, expected) => {
    const outcome = await run(code);
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toEqual(expected);
    expect(outcome.resultText).toBe(JSON.stringify(expected));
  });

  it('gives null for undefined and declarations', async () => {
    for (const code of ['undefined', 'let z = 1', 'function f() {}', 'class K {}', '']) {
      const outcome = await run(code);
      expect(outcome).toMatchObject({ status: 'completed', result: null, resultText: null });
    }
  });

  it.each([
    ['(function named() {})', '[Function: named]'],
    ['(x) => x + 1', '[Function (anonymous)]'],
    ['async () => 1', '[AsyncFunction (anonymous)]'],
    ['(function () {})', '[Function (anonymous)]'],
    ['(class {})', '[class (anonymous)]'],
    ['class Foo {}; Foo', '[class Foo]'],
    ['Symbol("s")', 'Symbol(s)'],
    ['new Map([["a", 1]])', "Map(1) { 'a' => 1 }"],
    ['new Set([1, 2])', 'Set(2) { 1, 2 }'],
    ['const c = { name: "c" }; c.self = c; c', "<ref *1> { name: 'c', self: [Circular *1] }"],
    ['10n', '10n'],
    ['NaN', 'NaN'],
    ['[1, , undefined]', '[ 1, <1 empty item>, undefined ]'],
    ['new Date(0)', '1970-01-01T00:00:00.000Z'],
    ['Promise.resolve(1)', 'Promise { <state unknown> }'],
    ['class M extends Map {}; new M([["a", 1]])', "M(1) { 'a' => 1 }"],
    ['class D { toJSON() { return "d" } }; new D()', 'D {}'],
    ['({ get g() { throw new Error("no") }, f() {} })', '{ g: [Getter], f: [Function: f] }'],
  ])('inspects %s', async (code, text) => {
    const outcome = await run(code);
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toBeNull();
    expect(outcome.resultText).toBe(text);
  });
});

it('answers a class instance with plain fields as JSON, like any object', async () => {
  const outcome = await run('class P { constructor() { this.x = 1; this.inner = new Q() } }; class Q { y = [2] }; new P()');
  expect(outcome).toMatchObject({ status: 'completed', result: { x: 1, inner: { y: [2] } }, resultText: '{"x":1,"inner":{"y":[2]}}' });
  const sub = await run('class A { a = 1 }; class B extends A { b = 2 }; [new B()]');
  expect(sub.result).toEqual([{ a: 1, b: 2 }]);
});

it('keeps an anonymous function result anonymous in TypeScript too', async () => {
  const outcome = await run('(x: number): number => x + 1', 'ts');
  expect(outcome).toMatchObject({ status: 'completed', result: null, resultText: '[Function (anonymous)]' });
});

describe('errors', () => {
  it('reports thrown errors with the user line', async () => {
    const outcome = await run('const a = 1;\n\nfunction boom() {\n  throw new RangeError("bad " + a);\n}\nboom();');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ name: 'RangeError', message: 'bad 1', line: 4, column: 9 });
    expect(outcome.error!.stack).toContain('step.js:4:9');
    expect(outcome.error!.stack).toContain('step.js:6:1');
    expect(outcome.error!.stack).not.toContain('raftbox:runtime');
  });

  it('reports errors after an await', async () => {
    const outcome = await run('await null;\nnull.x');
    expect(outcome.error).toMatchObject({ name: 'TypeError', line: 2 });
  });

  it('reports thrown non-errors', async () => {
    const outcome = await run('throw { code: 7 }');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ name: 'Error', message: 'Uncaught { code: 7 }' });
  });

  it('reports JS syntax errors with position', async () => {
    const outcome = await run('let a = 1;\nlet b = ;');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ name: 'SyntaxError', line: 2, column: 9 });
  });

  it('reports TS syntax errors with position', async () => {
    const outcome = await run('const a: number = 1;\nconst b: = 2;', 'ts');
    expect(outcome.error).toMatchObject({ name: 'SyntaxError', line: 2, column: 10 });
  });

  it('places errors in TS that esbuild accepts but a script cannot hold at the TypeScript line, not esbuild\'s', async () => {
    // esbuild spreads the one-line function over three lines; the decorator is on line 2 of the cell.
    const decorator = await run('function dec(t: any, c: any) { return t }\n@dec class K {}\nK.name', 'ts');
    expect(decorator.error).toMatchObject({ name: 'SyntaxError', line: 2, column: 1 });
    const exported = await run('function f(): number { return 1 }\nexport const b = f()', 'ts');
    expect(exported.error).toMatchObject({ name: 'SyntaxError', line: 2, message: expect.stringMatching(/^export is not available: a cell is not a module/) });
    // The import runs and fails where it stands, saying why.
    expect((await run('1;\nimport fs from "fs"')).error).toMatchObject({ name: 'Error', line: 2, message: 'node:fs is not available in the sandbox: the sandbox has no file system' });
  });
});

describe('TypeScript', () => {
  it('strips types and keeps REPL semantics', async () => {
    const outcome = await run('interface P { x: number }\nconst p: P = { x: 2 };\nenum E { A = 3 }\np.x * E.A as number', 'ts');
    expect(outcome).toMatchObject({ status: 'completed', result: 6 });
  });

  it.each([
    ['-1', -1],
    ['1; -1', -1],
    ['!0', true],
    ['let n = 2; +n', 2],
  ])('keeps the completion value of a type-free cell sent as TypeScript: %s', async (code, expected) => {
    expect(await run(code, 'ts')).toMatchObject({ status: 'completed', result: expected });
  });

  it('maps stack lines to the TypeScript source', async () => {
    const outcome = await run('type T = {\n  a: string;\n};\nconst v: T = { a: "x" };\nthrow new Error(v.a);', 'ts');
    expect(outcome.error).toMatchObject({ message: 'x', line: 5 });
    expect(outcome.error!.stack).toContain('step.ts:5:');
  });
});

describe('console', () => {
  it('captures levels in order, formatted like Node', async () => {
    const outcome = await run(
      'console.log("a", 1, { b: [1, 2] }); console.info("%s=%d", "n", 4); console.warn(new Map()); console.error("e"); console.debug(null, undefined)',
    );
    expect(outcome.console).toEqual([
      { level: 'log', text: 'a 1 { b: [ 1, 2 ] }' },
      { level: 'info', text: 'n=4' },
      { level: 'warn', text: 'Map(0) {}' },
      { level: 'error', text: 'e' },
      { level: 'debug', text: 'null undefined' },
    ]);
    expect(outcome.consoleTruncated).toBe(false);
  });

  it('truncates at maxOutputBytes and says so', async () => {
    const outcome = await pool.run(step('for (let i = 0; i < 1000; i++) console.log("line " + i)'), { ...limits, maxOutputBytes: 100 });
    expect(outcome.status).toBe('completed');
    expect(outcome.consoleTruncated).toBe(true);
    expect(outcome.console.at(-1)!.text).toContain('truncated');
    expect(outcome.console.length).toBeLessThan(20);
  });
});

describe('timers', () => {
  it('runs awaited timers in virtual time, in due order', async () => {
    const outcome = await run(`
      const order = [];
      setTimeout(() => order.push('b'), 20);
      setTimeout(() => order.push('a'), 10);
      setTimeout(() => order.push('c'), 20);
      queueMicrotask(() => order.push('micro'));
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, 5000));
      [order, Date.now() - t0 >= 5000]`);
    expect(outcome.result).toEqual([['micro', 'a', 'b', 'c'], true]);
  });

  it('orders many timers by due time, then creation, skipping cleared ones', async () => {
    const outcome = await run(`
      const fired = [];
      const ids = [];
      for (let i = 0; i < 2000; i++) ids.push(setTimeout(() => fired.push(i), (i * 7919) % 50));
      for (let i = 0; i < 2000; i += 3) clearTimeout(ids[i]);
      await new Promise((r) => setTimeout(r, 100));
      const expected = [];
      for (let i = 0; i < 2000; i++) if (i % 3 !== 0) expected.push(i);
      const due = (i) => Math.max(1, (i * 7919) % 50); // like Node, delays below 1 ms become 1 ms
      expected.sort((a, b) => due(a) - due(b) || a - b);
      JSON.stringify(fired) === JSON.stringify(expected)`);
    expect(outcome.result).toBe(true);
  });

  it('supports setInterval and clearInterval', async () => {
    const outcome = await run(`
      let n = 0;
      await new Promise((resolve) => { const id = setInterval(() => { if (++n === 5) { clearInterval(id); resolve(); } }, 100); });
      n`);
    expect(outcome.result).toBe(5);
  });

  it('runs timers left at the end of the step, like a script', async () => {
    const outcome = await run('setTimeout(() => console.log("later"), 100); "now"');
    expect(outcome.result).toBe('now');
    expect(outcome.console).toEqual([{ level: 'log', text: 'later' }]);
  });

  it('clears an endless interval after a bounded number of callbacks', async () => {
    const outcome = await run('let ticks = 0; setInterval(() => ticks++, 1); 1');
    expect(outcome.status).toBe('completed');
    expect(outcome.console.at(-1)).toMatchObject({ level: 'warn' });
  });

  it('reports errors thrown in timer callbacks, and the next run is clean', async () => {
    const outcome = await run('setTimeout(() => { throw new Error("late") }, 10);\n1');
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ message: 'late', line: 1 });
    const next = await run('2');
    expect(next).toMatchObject({ status: 'completed', result: 2, error: null });
  });

  it('fails a step that awaits something nothing can settle', async () => {
    const outcome = await run('await new Promise(() => {})');
    expect(outcome.status).toBe('failed');
    expect(outcome.error!.message).toContain('nothing can settle');
  });
});

describe('determinism', () => {
  it('derives random values and time from seed and clock', async () => {
    const code = '[Math.random(), crypto.randomUUID(), Array.from(crypto.getRandomValues(new Uint8Array(4))), Date.now(), new Date().getTime(), performance.now() >= 0]';
    const a = await pool.run(step(code, { seed: 'one' }), limits);
    const b = await pool.run(step(code, { seed: 'one' }), limits);
    const c = await pool.run(step(code, { seed: 'two' }), limits);
    expect(a.result).toEqual(b.result);
    expect((a.result as unknown[])[0]).not.toEqual((c.result as unknown[])[0]);
    expect((a.result as number[])[3]).toBe(Date.UTC(2025, 0, 1));
    expect((a.result as string[])[1]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('formats "now" with Intl from the virtual clock', async () => {
    const outcome = await run("new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', dateStyle: 'medium' }).format()");
    expect(outcome.result).toBe('Jan 1, 2025');
  });

  it('lets a busy-wait on Date.now() terminate', async () => {
    const outcome = await run('const t0 = Date.now(); let spins = 0; while (Date.now() < t0 + 50) spins++; spins > 0');
    expect(outcome.result).toBe(true);
  });
});
