import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool, LiveSession } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

const pool = new IsolatePool({ maxIsolates: 1 });
afterAll(() => pool.close());
const run = async (code: string) => pool.run(step(code), limits);

describe('top-level rewrite', () => {
  it.each([
    ['hoisted function used before its declaration', 'f() + 1;\nfunction f() { return 1 }', 2],
    ['var in nested blocks', 'if (true) { var inner = 4 }\ninner', 4],
    ['for-in with var', 'var keys = []; for (var k in { a: 1, b: 2 }) keys.push(k); [keys, k]', [['a', 'b'], 'b']],
    ['for-of with destructuring var', 'for (var [p, q] of [[1, 2]]) {}\np + q', 3],
    ['block-scoped let in a for loop stays in the loop', 'const fns = []; for (let i = 0; i < 3; i++) fns.push(() => i); fns.map((f) => f())', [0, 1, 2]],
    ['let without initializer', 'let u; typeof u', 'undefined'],
    ['labelled loops', 'let n = 0; outer: for (;;) { for (;;) { n++; break outer } } n', 1],
    ['switch completion', 'switch (2) { case 1: "one"; break; case 2: "two"; break }', 'two'],
    ['try/finally completion', 'try { "try" } finally { }', 'try'],
    ['no ASI hazard from rewritten declarations', 'const a = 1\nconst [b] = [2]\nconst { c } = { c: 3 }\n;[a, b, c]', [1, 2, 3]],
    ['class expression names', 'class Named {}; Named.name', 'Named'],
    ['`this` is the global object', 'this === globalThis', true],
    ['for await', 'let total = 0; for await (const v of [Promise.resolve(1), 2]) total += v; total', 3],
    ['a block that is not an object literal', '{ let scoped = 1; scoped + 1 }', 2],
    ['strings containing keywords', '"let x = 1; const y"', 'let x = 1; const y'],
  ])('%s', async (_, code, expected) => {
    const outcome = await run(code);
    expect(outcome.error).toBeNull();
    expect(outcome.result).toEqual(expected);
  });

  it('keeps columns of errors on rewritten lines', async () => {
    const outcome = await run('let a = 1; const b = 2; a + b; null.boom');
    expect(outcome.error).toMatchObject({ name: 'TypeError', line: 1, column: 37 });
  });

  it('keeps each declaration visible to closures in later session steps', async () => {
    const session = await LiveSession.create(64);
    try {
      await session.run(step('let total = 0;\nconst add = (n) => { total += n; return total };'), limits);
      await session.run(step('add(2); add(3)'), limits);
      await session.run(step('let total = 100;'), limits);
      expect((await session.run(step('add(1)'), limits)).result).toBe(101);
    } finally {
      session.dispose();
    }
  });
});
