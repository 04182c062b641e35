import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Domain } from '../../src/executions/index.ts';
import { Fixture } from './fixture.ts';
import { int, seeded } from '../support/random.ts';

// Property: a session rebuilt from its journal on another node is the session that ran live.
// Random step sequences run on A (warm isolate); then the same dump runs warm on A and, on B, from
// the same state id (B rebuilds it by replay). A failure prints the seed that reproduces it.

let f: Fixture;
let a: Domain;
let b: Domain;
beforeAll(async () => {
  f = await Fixture.open();
  a = await f.node({ nodeId: 'a' });
  b = await f.node({ nodeId: 'b' });
});
afterAll(() => f.close());

function sequence(seed: number): string[] {
  const rng = seeded(seed);
  const pick = (n: number) => int(rng, 0, n - 1);
  const steps = ['const st = { log: [] }; let counters = []'];
  let closures = 0;
  for (let i = 0, n = 4 + pick(8); i < n; i++) {
    switch (pick(9)) {
      case 0: steps.push(`st.r${i} = Math.random()`); break;
      case 1: steps.push(`st.t${i} = [Date.now(), new Date().toISOString(), performance.now() > 0]`); break;
      case 2: steps.push(`let c${i} = Math.floor(Math.random() * 100); counters.push(() => ++c${i}); c${i}`); closures++; break;
      case 3: steps.push(closures ? `counters.map((f) => f())` : `st.none = true`); break;
      case 4: steps.push(`class K${i} { v = Math.random(); get w() { return this.v * 2 } }; st.k${i} = new K${i}().w`); break;
      case 5: steps.push(`st.m = new Map(st.m ?? []); st.m.set(${i}, Math.random()); st.mk = [...st.m.entries()]`); break;
      case 6: steps.push(`st.partial${i} = Math.random(); throw new Error('step ${i} fails')`); break;
      case 7: steps.push(`await new Promise((r) => setTimeout(r, ${pick(20)})); st.log.push(Date.now())`); break;
      default: steps.push(`const again = ${i}; st.again = again; setTimeout(() => st.log.push('timer ${i}'), ${pick(5)})`);
    }
  }
  return steps;
}

const DUMP = `JSON.stringify({ st, counted: counters.map((f) => f()), random: Math.random() === Math.random() })`;
const WAIT = { waitMs: 10_000 };

describe('replay rebuilds exactly the state that ran live', () => {
  it('holds for random step sequences', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const session = `prop-${seed}`;
      for (const code of sequence(seed)) await a.executions.run({ code, session }, WAIT);
      const head = (await a.sessions.get(session)).heap;
      const live = await a.executions.run({ code: DUMP, session }, WAIT);
      const rebuilt = await b.executions.run({ code: DUMP, heap: head }, WAIT);
      expect(live.status, `seed ${seed}`).toBe('completed');
      expect(rebuilt.result, `seed ${seed}: ${sequence(seed).join(' ⏎ ')}`).toBe(live.result);
    }
  });
});
