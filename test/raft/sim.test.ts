// Runs the deterministic simulator over a few hundred seeds; a failure names the replay command.
import { describe, expect, it } from 'vitest';
import { runSeed } from './sim/simulation.ts';

const SEEDS = 300;

describe('deterministic simulation', () => {
  // CPU-bound: ~7 s on an idle 2-core machine, several times that when other work shares the cores.
  it(`keeps election safety, log matching, leader completeness, state-machine safety and linearizability over ${SEEDS} seeds`, { timeout: 180_000 }, () => {
    const failures: string[] = [];
    let checked = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = runSeed({ seed });
      if (r.linearizable === 'ok') checked++;
      if (!r.ok) failures.push(`seed ${seed}: ${r.error}\n  replay: npm run sim -- --seed ${seed}`);
    }
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(SEEDS * 0.9); // the checker decided (not 'unknown') almost everywhere
  });

  it('a seed replays exactly', () => {
    expect(runSeed({ seed: 42 })).toEqual(runSeed({ seed: 42 }));
  });
});
