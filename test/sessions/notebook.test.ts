import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { Fixture } from './fixture.ts';

let f: Fixture;
let node: Domain;
beforeEach(async () => {
  f = await Fixture.open();
  node = await f.node();
});
afterEach(() => f.close());

const WAIT = { waitMs: 10_000 };

describe('a session behaves like a notebook', () => {
  it('keeps declarations across steps, lets a const be declared again, and numbers the steps', async () => {
    const run = (code: string) => node.executions.run({ code, session: 'nb' }, WAIT);
    const a = await run('const x = 40; let y = 1; function f() { return x + y } class C { v = 2 }');
    expect(a).toMatchObject({ status: 'completed', session: 'nb', step: 1 });
    expect(a.heap).toMatch(/^[0-9a-f]{64}$/);
    const b = await run('y = y + 1; f() + new C().v');
    expect(b).toMatchObject({ status: 'completed', result: 44, step: 2 });
    const c = await run('const x = 1; x');
    expect(c).toMatchObject({ status: 'completed', result: 1, step: 3 });
    const info = await node.sessions.get('nb');
    expect(info).toMatchObject({ name: 'nb', heap: c.heap, steps: 3 });
    expect(info.journal.map((s) => s.code)).toEqual([
      'const x = 40; let y = 1; function f() { return x + y } class C { v = 2 }',
      'y = y + 1; f() + new C().v',
      'const x = 1; x',
    ]);
  });
});
