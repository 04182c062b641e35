// How long a run that prints a flood of console lines holds the node's event loop: the longest gap
// of a 1 ms timer on the host while a stateless run prints 20,000 lines (its live output hook
// counting them, as the execution service's does), against a run printing nothing.
// Run: node --no-node-snapshot bench/console-flood.ts
import { performance } from 'node:perf_hooks';
import { IsolatePool, type Limits, type Step } from '../src/sandbox/index.ts';

const limits: Limits = { memoryMb: 64, cpuTimeoutMs: 10_000, wallTimeoutMs: 20_000, maxOutputBytes: 4 << 20 };
const step = (code: string): Step => ({ code, language: 'js', seed: 's', clock: 1_700_000_000_000 });

/** The longest gap between ticks of a 1 ms interval while `work` runs. */
async function longestGap(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  await work();
  clearInterval(timer);
  return longest;
}

const pool = new IsolatePool({ maxIsolates: 1 });
const cases: Array<[string, string]> = [
  ['no output', 'let s = 0; for (let i = 0; i < 20000; i++) s += String(i).length; s'],
  ['20,000 console.log lines', 'for (let i = 0; i < 20000; i++) console.log(i); 1'],
];
for (const [label, code] of cases) {
  await pool.run(step(code), limits);
  const gaps: number[] = [];
  for (let i = 0; i < 10; i++) {
    let lines = 0;
    gaps.push(await longestGap(() => pool.run(step(code), limits, undefined, undefined, { onConsole: () => lines++ })));
  }
  gaps.sort((a, b) => a - b);
  console.log(`${label.padEnd(28)} longest event-loop gap: median ${gaps[5]!.toFixed(1)} ms, max ${gaps[9]!.toFixed(1)} ms`);
}
pool.close();
