// npm run sim -- --seed N            replay one seed (prints its stats)
// npm run sim -- --seeds N [--from S] run N seeds
// add --broken-reads to run the deliberately broken read path (the checker must fail it)
import { runSeed } from './simulation.ts';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const brokenReads = args.includes('--broken-reads');
const duration = arg('--duration') ? Number(arg('--duration')) : undefined;
const one = arg('--seed');
const seeds = one !== undefined ? [Number(one)] : range(Number(arg('--from') ?? 1), Number(arg('--seeds') ?? 100));

let failed = 0;
const started = Date.now();
for (const seed of seeds) {
  const r = runSeed({ seed, brokenReads, ...(duration ? { durationMs: duration } : {}) });
  if (one !== undefined || !r.ok) {
    console.log(`seed ${seed}: ${r.ok ? 'ok' : 'FAILED'} linearizable=${r.linearizable} ${JSON.stringify(r.stats)}`);
  }
  if (!r.ok) {
    failed++;
    console.log(`  ${r.error}`);
    console.log(`  replay: npm run sim -- --seed ${seed}${brokenReads ? ' --broken-reads' : ''}`);
  }
}
console.log(`${seeds.length - failed}/${seeds.length} seeds passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = failed > 0 ? 1 : 0;

function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}
