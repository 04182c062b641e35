import { describe, expect, it } from 'vitest';
import { LiveSession, ReplayAbandonedError, type HostCallPerformer, type Step } from '../../src/sandbox/index.ts';
import { limits } from './helpers.ts';
import { seeded, type Rng } from '../support/random.ts';

/**
 * Property: running random step sequences live in one LiveSession, then replaying the same steps
 * into a fresh LiveSession, yields the same state — compared through a canonical dump of every
 * global the steps made, calling closures, methods and classes along the way. Steps with host calls
 * replay from their recorded answers, as a session's journal holds them; steps that ran in one task
 * replay on this thread when replayed one by one (LiveSession.replay).
 */
const SEQUENCES = 200;
const MASTER_SEED = Number(process.env.SANDBOX_PROPERTY_SEED ?? 20250101);

/** An integer in [0, n). */
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const name = (rng: Rng, prefix: string) => `s_${prefix}${int(rng, 3)}`;

const templates: Array<(rng: Rng) => Pick<Step, 'code' | 'language'>> = [
  (r) => js(`let ${name(r, 'v')} = Math.random() * ${int(r, 100)};`),
  (r) => js(`const ${name(r, 'v')} = Date.now() + performance.now();`),
  (r) => js(`var ${name(r, 'v')} = typeof s_v0 === 'number' ? s_v0 + ${int(r, 9)} : ${int(r, 9)};`),
  (r) => js(`const ${name(r, 'f')} = (() => { let c = ${int(r, 50)}; return () => (c += Math.random()) })();`),
  (r) => js(`class ${name(r, 'C')} { constructor() { this.t = Date.now(); this.r = Math.random() } sum() { return this.t + this.r } }\n${name(r, 'inst')} = typeof s_C0 === 'function' ? new s_C0() : null;`),
  (r) => js(`${name(r, 'map')} = new Map([[${int(r, 5)}, crypto.randomUUID()]]); if (typeof s_map1 === 'object') s_map1.set('k${int(r, 5)}', Math.random());`),
  (r) => js(`s_log = [];\nsetTimeout(() => s_log.push(['a', Date.now()]), ${int(r, 50)});\nsetTimeout(() => s_log.push(['b', Math.random()]), ${int(r, 50)});\nawait new Promise((res) => setTimeout(res, ${int(r, 100)}));\ns_log.length`),
  (r) => js(`let s_ticks = 0; const s_id = setInterval(() => { s_ticks++; if (s_ticks > ${int(r, 6)}) clearInterval(s_id) }, 7);`),
  (r) => js(`s_shared = ${int(r, 100)};\nthrow new Error('boom ' + Math.random());`),
  (r) => js(`await null;\n${name(r, 'v')} = await Promise.resolve(Math.random());`),
  (r) => js(`(async () => { for (let i = 0; i < ${int(r, 20)}; i++) await null; s_late = Math.random() })();`),
  (r) => js(`Promise.reject(new Error('unhandled')); ${name(r, 'v')} = ${int(r, 10)};`),
  () => js(`queueMicrotask(() => { s_qm = Date.now() + Math.random() });`),
  () => js(`if (typeof s_f1 === 'function') s_call = s_f1(); if (typeof s_inst0 === 'object' && s_inst0) s_sum = s_inst0.sum();`),
  () => js(`s_bytes = Array.from(crypto.getRandomValues(new Uint8Array(8)));`),
  () => js(`s_date = new Date().toISOString() + Date();`),
  (r) => js(`function ${name(r, 'g')}(x = 1) { return x * ${int(r, 7)} + Math.random() }`),
  () => js(`const s_t0 = Date.now(); let s_spins = 0; while (Date.now() < s_t0 + 2) s_spins++;`),
  (r) => ({ code: `let ${name(r, 'v')}: number = Math.random();\ninterface S { n: number }\nconst s_typed: S = { n: ${int(r, 10)} };`, language: 'ts' }),
  (r) => js(`s_arr = (typeof s_arr === 'object' ? s_arr : []).concat([Math.random() < 0.5 ? 'lo' : 'hi', ${int(r, 3)}]);`),
  (r) => js(`let s_order = []; for (const d of [${int(r, 30)}, ${int(r, 30)}, ${int(r, 30)}]) setTimeout(() => s_order.push(d), d); queueMicrotask(() => s_order.push('m'));`),
  // The web platform: everything random or timed in it comes from the step's key and clock.
  () => js(`s_ec = await (async () => { const k = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']); const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, k.privateKey, crypto.getRandomValues(new Uint8Array(16))); return [await crypto.subtle.exportKey('jwk', k.privateKey), Array.from(new Uint8Array(sig))] })();`),
  () => js(`s_gcm = await (async () => { const k = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt']); const iv = crypto.getRandomValues(new Uint8Array(12)); return [Array.from(new Uint8Array(await crypto.subtle.exportKey('raw', k))), Array.from(new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, k, new TextEncoder().encode(crypto.randomUUID()))))] })();`),
  () => js(`s_digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-512', crypto.getRandomValues(new Uint8Array(32))))).slice(0, 8);`),
  (r) => js(`s_aborts = []; const abortSignal = AbortSignal.any([AbortSignal.timeout(${int(r, 40)}), AbortSignal.timeout(${int(r, 40)})]); abortSignal.onabort = () => s_aborts.push([Date.now(), abortSignal.reason.name]);\nawait new Promise((res) => setTimeout(res, ${int(r, 60)}));`),
  () => js(`s_gz = Array.from(new Uint8Array(await new Response(new Blob([crypto.randomUUID()]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer()));`),
  () => js(`s_clone = (() => { const o = { d: new Date(), r: Math.random(), m: new Map([[1, crypto.randomUUID()]]) }; o.self = o; const c = structuredClone(o); return [c.d.getTime(), c.r, [...c.m], c.self === c] })();`),
  () => js(`performance.mark('s_m'); await new Promise((res) => setTimeout(res, 3)); s_measure = [performance.measure('s_x', 's_m').duration, performance.getEntries().length];`),
  () => js(`s_url = new URL('/p?' + new URLSearchParams({ r: Math.random() }), 'https://ünïcode.example').href; s_file = new File([s_url], 'f').lastModified;`),
  () => js(`s_form = await new Response(Object.assign(new FormData(), {}), {}).text().then((t) => t.length);`),
  // Host calls (answered by \`upstream\` below after a real delay): concurrent ones completing out of
  // order, one racing a timer, one left unawaited past the step's code, one aborted by a timeout.
  (r) => js(`s_fx = [];\nawait Promise.all([${int(r, 30)}, ${int(r, 30)}, ${int(r, 30)}].map((d, i) => fetch('http://up.test/' + i + '?d=' + d).then((x) => x.json()).then((j) => s_fx.push([i, j.n, Date.now()]))));`),
  (r) => js(`s_race = await Promise.race([fetch('http://up.test/r?d=${int(r, 40)}').then((x) => x.text()), new Promise((res) => setTimeout(() => res('timer ' + Date.now()), ${int(r, 40)}))]);`),
  (r) => js(`fetch('http://up.test/late?d=${int(r, 20)}', { method: 'POST', body: crypto.randomUUID() }).then(async (x) => { s_late2 = [await x.json(), Date.now()] });\nawait new Promise((res) => setTimeout(res, ${int(r, 25)}));`),
  (r) => js(`s_ab = await fetch('http://up.test/t?d=${int(r, 30)}', { signal: AbortSignal.timeout(${int(r, 30)}) }).then((x) => x.status, (e) => e.name + Date.now());`),
];

// Answers each call after the delay its URL asks for (plus jitter): completions come in whatever
// order real time gives, and every answer differs (a counter), so only a replay from the record matches.
let answered = 0;
const upstream: HostCallPerformer = {
  limits: { maxRecordedBytes: 1 << 20, maxAnswerBytes: 1 << 20, maxConcurrent: 8, maxCalls: 64 },
  async perform(request) {
    const url = new URL((request.description as { url: string }).url);
    await new Promise((res) => setTimeout(res, Number(url.searchParams.get('d')) + Math.random() * 5));
    const body = JSON.stringify({ n: answered++, path: url.pathname, sent: request.bytes?.byteLength ?? 0 });
    return { answer: { status: 200, statusText: 'OK', headers: [['content-type', 'application/json']], url: url.href, redirected: false }, bytes: new TextEncoder().encode(body) };
  },
};

function js(code: string): Pick<Step, 'code' | 'language'> {
  return { code, language: 'js' };
}

const DUMP = `
const seen = new Set();
function dump(v, depth) {
  if (depth > 4) return '…';
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (v === null || typeof v !== 'object' && typeof v !== 'function') return typeof v + ':' + String(v);
  if (seen.has(v)) return '[seen]';
  seen.add(v);
  if (typeof v === 'function') {
    let called;
    try { called = dump(v(), depth + 1) } catch (e) { called = 'threw ' + e.name }
    return 'fn ' + v.name + ' ' + String(v).length + ' -> ' + called;
  }
  if (v instanceof Map) return 'Map{' + [...v].map(([k, x]) => dump(k, depth + 1) + '=>' + dump(x, depth + 1)).join(',') + '}';
  const proto = Object.getPrototypeOf(v);
  const methods = proto && proto !== Object.prototype && proto !== Array.prototype
    ? Object.getOwnPropertyNames(proto).filter((k) => k !== 'constructor').sort().map((k) => k + '()=' + dump(v[k](), depth + 1))
    : [];
  return (proto?.constructor?.name ?? 'null') + '{' + Object.keys(v).sort().map((k) => k + ':' + dump(v[k], depth + 1)).concat(methods).join(',') + '}';
}
Object.getOwnPropertyNames(globalThis).filter((k) => k.startsWith('s_')).sort().map((k) => k + '=' + dump(globalThis[k], 0)).join('\\n')
`;

function sequence(rng: Rng, index: number): Step[] {
  const length = 2 + int(rng, 7);
  return Array.from({ length }, (_, i) => ({
    ...templates[int(rng, templates.length)]!(rng),
    seed: `seq${index}-step${i}-${int(rng, 1e6)}`,
    clock: 1_700_000_000_000 + i * 60_000 + int(rng, 1000),
  }));
}

describe('replay determinism (property)', () => {
  it(`${SEQUENCES} random step sequences rebuild identical state (master seed ${MASTER_SEED})`, async () => {
    const rng = seeded(MASTER_SEED);
    const dumpStep: Step = { code: DUMP, language: 'js', seed: 'dump', clock: 1_800_000_000_000 };
    for (let index = 0; index < SEQUENCES; index++) {
      const steps = sequence(rng, index);
      const live = await LiveSession.create(64);
      let replayed = await LiveSession.create(64);
      try {
        for (const [i, s] of steps.entries()) {
          const outcome = await live.run(s, limits, undefined, upstream);
          expect(['completed', 'failed'], `step ${s.code}`).toContain(outcome.status);
          // What the journal keeps of the step for its replay: its calls' answers, its CPU, whether it ran in one task.
          steps[i] = { ...s, cpuMs: outcome.cpuMs, ...(outcome.hostCalls ? { hostCalls: outcome.hostCalls } : {}), ...(outcome.oneTask ? { oneTask: true } : {}) };
        }
        // Half are rebuilt at once (as by a node new to the session), half a step at a time (as by a
        // standby following it): a step that ran in one task, cheaply, is then replayed on this thread.
        if (index % 2 === 0) await replayed.replay(steps);
        else {
          for (const [i, s] of steps.entries()) {
            try {
              await replayed.replay([s]);
            } catch (err) {
              // As a session's owner does: one abandoned on this thread (past its time on a loaded machine) is rebuilt asynchronously.
              if (!(err instanceof ReplayAbandonedError)) throw err;
              replayed = await LiveSession.create(64);
              await replayed.replay(steps.slice(0, i + 1), { onThisThread: false });
            }
          }
        }
        const a = await live.run(dumpStep, limits);
        const b = await replayed.run(dumpStep, limits);
        expect(a.status, JSON.stringify(a.error)).toBe('completed');
        expect(b.resultText, `sequence ${index} (master seed ${MASTER_SEED}):\n${steps.map((s) => s.code).join('\n---\n')}`).toBe(a.resultText);
      } finally {
        live.dispose();
        replayed.dispose();
      }
    }
    // Steps that load web platform modules (crypto.subtle, compression, URL) cost tens of ms in each
    // fresh session; 200 sequences take ~20 s on a quiet 2-core machine.
  }, 180_000);
});
