// Micro-benchmark of the sandbox alone: stateless `1 + 1` through the IsolatePool at concurrency 1
// and 8, warm session steps, a standby's replay of one step (on this thread and on isolated-vm's),
// replay of a 100-step session, what a new session and a pooled context cost to set up, and the
// first use of web platform modules in a session (each is loaded then).
// Run: node --no-node-snapshot bench/sandbox.ts
import { performance } from 'node:perf_hooks';
import ivm from 'isolated-vm';
import { IsolatePool, LiveSession, type Limits, type Step } from '../src/sandbox/index.ts';
import { prepareContext } from '../src/sandbox/runtime/bootstrap.ts';

const limits: Limits = { memoryMb: 64, cpuTimeoutMs: 5000, wallTimeoutMs: 10000, maxOutputBytes: 65536 };
const step = (code: string, i = 0): Step => ({ code, language: 'js', seed: `s${i}`, clock: 1_700_000_000_000 + i });

async function measure(label: string, total: number, concurrency: number, runOne: (i: number) => Promise<unknown>) {
  let next = 0;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await runOne(next++);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `${label.padEnd(34)} ${(total / seconds).toFixed(0).padStart(6)} runs/s  ` +
      `main thread ${((elu.active * 1000) / total).toFixed(1).padStart(6)} µs/run  ` +
      `process CPU ${((cpu.user + cpu.system) / total).toFixed(1).padStart(6)} µs/run`,
  );
}

const pool = new IsolatePool({ maxIsolates: 4 });
await pool.prewarm(64, 4);
for (const concurrency of [1, 8]) {
  await measure(`pool 1 + 1, concurrency ${concurrency}`, 2000, concurrency, () => pool.run(step('1 + 1'), limits)); // warm-up
  await measure(`pool 1 + 1, concurrency ${concurrency}`, 20000, concurrency, () => pool.run(step('1 + 1'), limits));
}
await measure('pool console + timer, concurrency 8', 10000, 8, (i) =>
  pool.run(step(`console.log("run", ${i % 50}); await new Promise(r => setTimeout(r, 10)); [1, 2, 3].map(x => x * 2)`), limits),
);
pool.close();

const session = await LiveSession.create(64);
await measure('session step, concurrency 1', 5000, 1, (i) => session.run(step(`globalThis.n = (globalThis.n ?? 0) + ${i % 7}; n`, i), limits));
session.dispose();

// A warm standby's catch-up: one journal step replayed into a warm session. One the journal marks as
// having run in one task is replayed with synchronous calls on this thread; one without the mark on
// isolated-vm's thread, as a replay was made before (LiveSession.replay).
for (const [label, mark] of [['on this thread', { oneTask: true }], ["on isolated-vm's thread", {}]] as const) {
  const standby = await LiveSession.create(64);
  await standby.run(step('globalThis.n = 0'), limits);
  await measure(`replay of a step, ${label}`, 5000, 1, (i) => standby.replay([{ ...step(`n += ${i % 7}; n`, i), cpuMs: 0.05, ...mark }]));
  standby.dispose();
}

const cells = Array.from({ length: 100 }, (_, i) =>
  step(i % 10 === 0 ? `const f${i} = (x) => x + ${i}; let v${i} = f${i}(Math.random())` : `let v${i} = ${i} * 2; const o${i} = { a: v${i}, d: Date.now() }; o${i}.a`, i),
);
const replayTimes: number[] = [];
for (let round = 0; round < 30; round++) {
  const fresh = await LiveSession.create(64);
  const t0 = performance.now();
  await fresh.replay(cells);
  replayTimes.push(performance.now() - t0);
  fresh.dispose();
}
replayTimes.sort((a, b) => a - b);
console.log(`replay of 100 steps into a fresh session: median ${replayTimes[15]!.toFixed(1)} ms, min ${replayTimes[0]!.toFixed(1)} ms (excluding isolate creation)`);

const median = (values: number[]) => values.sort((a, b) => a - b)[values.length >> 1]!;
const creations: number[] = [];
const firstSteps: number[] = [];
for (let round = 0; round < 40; round++) {
  const t0 = performance.now();
  const fresh = await LiveSession.create(64);
  const t1 = performance.now();
  await fresh.run(step('let x = 1; x + 1', round), limits);
  creations.push(t1 - t0);
  firstSteps.push(performance.now() - t1);
  fresh.dispose();
}
const bootstrapIsolate = new ivm.Isolate({ memoryLimit: 64 });
const bootstraps: number[] = [];
for (let round = 0; round < 40; round++) {
  const t0 = performance.now();
  const prepared = await prepareContext(bootstrapIsolate, true, 64);
  bootstraps.push(performance.now() - t0);
  prepared.release();
}
bootstrapIsolate.dispose();
console.log(`new session (isolate + context): median ${median(creations).toFixed(2)} ms, its first step ${median(firstSteps).toFixed(2)} ms; pooled context bootstrap: median ${median(bootstraps).toFixed(2)} ms`);

const firstUses = ['btoa("x")', 'new TextEncoder().encode("x")', 'new URL("https://a.example/")', 'crypto.subtle.digest("SHA-256", new Uint8Array(1))', 'new CompressionStream("gzip")', 'new Response("x")'];
const cpuOfFirstUse: string[] = [];
for (const code of firstUses) {
  const cpu: number[] = [];
  for (let round = 0; round < 9; round++) {
    const fresh = await LiveSession.create(64);
    const outcome = await fresh.run(step(code), limits);
    if (outcome.status === 'completed') cpu.push(outcome.cpuMs);
    fresh.dispose();
  }
  cpuOfFirstUse.push(`${code.split(/[.(]/)[0]!.replace('new ', '')} ${cpu.length > 0 ? median(cpu).toFixed(1) : 'n/a'}`);
}
console.log(`first use in a session, step CPU ms (median): ${cpuOfFirstUse.join(', ')}`);
