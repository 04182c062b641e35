// Import cost per package: a stateless run that imports it (the module is evaluated afresh in every
// pooled run; its factory is defined once per context) against the same run without the import, a
// session's first import (a new isolate: compile with V8's code cache, define, evaluate), and a warm
// session step that uses the already imported module. Then what V8's code cache saves: compiling each
// bundle in a new isolate without and with the cached data of an earlier compile (what a new session's
// isolate does on its first import).
// Run: node --no-node-snapshot bench/packages.ts <packagesDir> [package ...]
// (install first: npm install --prefix <packagesDir> lodash date-fns zod yaml papaparse)
import { performance } from 'node:perf_hooks';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ivm from 'isolated-vm';
import { IsolatePool, LiveSession, PackageSet, type Limits, type Step } from '../src/sandbox/index.ts';

const limits: Limits = { memoryMb: 64, cpuTimeoutMs: 5000, wallTimeoutMs: 10000, maxOutputBytes: 65536 };
const step = (code: string, i = 0): Step => ({ code, language: 'js', seed: `s${i}`, clock: 1_700_000_000_000 + i });
const [packagesDir, ...names] = process.argv.slice(2);
if (!packagesDir) throw new Error('usage: bench/packages.ts <packagesDir> [package ...]');
const approved = names.length > 0 ? names : ['lodash', 'date-fns', 'zod', 'yaml', 'papaparse'];
const modules = [...approved, 'node:buffer', 'node:crypto', 'node:util', 'node:stream', 'node:zlib'];

const t0 = performance.now();
const packages = await PackageSet.load({ packages: approved, packagesDir, storeDir: mkdtempSync(join(tmpdir(), 'raftbox-bench-bundles-')) });
console.log(`bundling ${approved.length} packages + built-ins (cold store): ${(performance.now() - t0).toFixed(0)} ms`);

const bundleOf = async (name: string) => (await packages.resolve(['zlib', ...modules], new Map())).bundles.find((b) => b.name === name)!;
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pool = new IsolatePool({ maxIsolates: 1, packages });
const RUNS = 50;
async function stateless(code: string): Promise<number> {
  await pool.run(step(code), limits);
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const o = await pool.run(step(code, i), limits);
    if (o.status !== 'completed') throw new Error(`${code}: ${o.error?.message}`);
    times.push(o.cpuMs);
  }
  return median(times);
}
const base = await stateless('1');
console.log(`stateless baseline '1': ${base.toFixed(3)} ms isolate CPU`);
console.log('| module | bundle KB | stateless import (isolate CPU ms, median) | session: first import (wall ms, new isolate) | session: later step (CPU ms) |');
console.log('|---|---|---|---|---|');
// Brotli's encoder and decoder are a bundle of their own (raftbox:brotli, a 1 MB wasm module) that
// node:zlib loads on first use: its row is that first use, its KB that bundle's.
const rows: Array<[label: string, module: string, code: string]> = [
  ...modules.map((name): [string, string, string] => [name, name, `const m = require(${JSON.stringify(name)}); typeof m`]),
  ['node:zlib, first brotli use', 'raftbox:brotli', "const m = require('zlib'); m.brotliDecompressSync(m.brotliCompressSync('x')).length"],
];
for (const [label, name, code] of rows) {
  const cpu = await stateless(code);
  const firsts: number[] = [];
  const laters: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    const session = await LiveSession.create(64, packages);
    const created = performance.now() - t;
    const first = performance.now();
    await session.run(step(code, i), limits);
    firsts.push(performance.now() - first + created);
    const later = await session.run(step('typeof m', i), limits);
    laters.push(later.cpuMs);
    session.dispose();
  }
  const kb = (await bundleOf(name)).code.length / 1024;
  console.log(`| ${label} | ${kb.toFixed(0)} | ${cpu.toFixed(2)} | ${median(firsts).toFixed(2)} | ${median(laters).toFixed(3)} |`);
}
pool.close();

// Compile in a fresh isolate each time (the first compile of a script in an isolate is what the cache
// skips), without a cache and with the one the first compile produced; and whether V8 took it.
const COMPILES = 10;
async function compileMs(code: string, cachedData?: ivm.ExternalCopy<ArrayBuffer>): Promise<{ ms: number; rejected: boolean }> {
  const isolate = new ivm.Isolate({ memoryLimit: 64 });
  try {
    const t = performance.now();
    const script = (await isolate.compileScript(code, cachedData ? { cachedData } : {})) as ivm.Script & { cachedDataRejected?: boolean };
    return { ms: performance.now() - t, rejected: script.cachedDataRejected === true };
  } finally {
    isolate.dispose();
  }
}
console.log('');
console.log('| module | compile in a new isolate, no cache (ms, median) | with the code cache (ms, median) | cache KB | saved |');
console.log('|---|---|---|---|---|');
for (const name of [...modules, 'raftbox:brotli']) {
  const { code } = await bundleOf(name);
  const producer = new ivm.Isolate({ memoryLimit: 64 });
  const made = (await producer.compileScript(code, { produceCachedData: true })) as ivm.Script & ivm.CachedDataResult;
  const cache = made.cachedData!;
  producer.dispose();
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 0; i < COMPILES; i++) {
    cold.push((await compileMs(code)).ms);
    const hit = await compileMs(code, cache);
    if (hit.rejected) throw new Error(`${name}: V8 rejected the code cache`);
    warm.push(hit.ms);
  }
  const [c, w] = [median(cold), median(warm)];
  console.log(`| ${name} | ${c.toFixed(2)} | ${w.toFixed(2)} | ${(cache.copy().byteLength / 1024).toFixed(0)} | ${((1 - w / c) * 100).toFixed(0)} % |`);
}
