import { afterAll, describe, expect, it } from 'vitest';
import { IsolatePool, LiveSession } from '../../src/sandbox/index.ts';
import { limits, step } from './helpers.ts';

// What the sandbox's V8 (Node 24's) offers that agents' code reaches for, checked where it matters:
// in a locked-down pooled context, in a session, and in a session rebuilt from its journal.
const FEATURES = `[
  Object.groupBy([1, 2, 3], (x) => (x % 2 ? 'odd' : 'even')).odd,
  (() => { const { promise, resolve } = Promise.withResolvers(); resolve(1); return promise instanceof Promise })(),
  [...new Set([1, 2]).union(new Set([2, 3]))],
  [...new Set([1, 2]).intersection(new Set([2, 3]))],
  Iterator.from([1, 2, 3, 4]).filter((x) => x % 2 === 0).map((x) => x * 10).toArray(),
  Array.from(new Float16Array([1.5, 65504])),
  RegExp.escape('a.b*c'),
  [Error.isError(new TypeError('x')), Error.isError({ message: 'x' })],
  [1, 2, 3].toSorted((a, b) => b - a),
  Object.entries(Map.groupBy([1, 2, 3], (x) => x > 1)).length,
]`;
const EXPECTED = [[1, 3], true, [1, 2, 3], [2], [20, 40], [1.5, 65504], '\\x61\\.b\\*c', [true, false], [3, 2, 1], 0];

describe('modern JavaScript in the sandbox', () => {
  const pool = new IsolatePool({ maxIsolates: 1 });
  afterAll(() => pool.close());

  it('works in a pooled, locked-down context', async () => {
    const outcome = await pool.run(step(FEATURES), limits);
    expect(outcome.error).toBeNull();
    expect(outcome.result).toEqual(EXPECTED);
  });

  it('works in a session, keeps its values, and a rebuild from the journal gives the same answers', async () => {
    const steps = [
      step(`const groups = Object.groupBy([1, 2, 3], (x) => (x % 2 ? 'odd' : 'even')); let seen = new Set([1])`),
      step(`seen = seen.union(new Set(Iterator.from([2, 3]).map((x) => x * Math.random() > -1 ? x : 0))); [groups.even, [...seen], ${FEATURES}]`, { seed: 'two' }),
    ];
    const live = await LiveSession.create(64);
    const rebuilt = await LiveSession.create(64);
    try {
      await live.run(steps[0]!, limits);
      const answer = await live.run(steps[1]!, limits);
      expect(answer.error).toBeNull();
      expect(answer.result).toEqual([[2], [1, 2, 3], EXPECTED]);
      await rebuilt.replay(steps.slice(0, 1));
      expect(await rebuilt.run(steps[1]!, limits)).toMatchObject({ result: answer.result, resultText: answer.resultText });
    } finally {
      live.dispose();
      rebuilt.dispose();
    }
  });
});
