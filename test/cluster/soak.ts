// Soak (not part of `vitest run`): thousands of stateful steps over a 3-node cluster while nodes are
// SIGKILLed and restarted at random; afterwards every acknowledged step must be in its session's
// journal exactly once and in order.
// Run: npm run soak -- --minutes 2     (or node --no-node-snapshot test/cluster/soak.ts --minutes 2)
import { parseArgs } from 'node:util';
import { TestCluster } from './harness.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '1' }, sessions: { type: 'string', default: '6' } } });
const until = Date.now() + Number(values.minutes) * 60_000;
const SESSIONS = Number(values.sessions);

const c = await TestCluster.start({ direct: true });
const acknowledged = new Map<string, number[]>(); // session → the values of its acknowledged steps, in order
let steps = 0;
let refused = 0;
const refusals = new Map<string, number>(); // what the refused attempts were answered, by kind
let kills = 0;

async function driver(s: number): Promise<void> {
  const name = `soak-${s}`;
  acknowledged.set(name, []);
  let k = 0; // the values acknowledged so far
  // The value's latest key, kept when it is sent again elsewhere: an execution that ended without its
  // step gives up its key (a retry under it runs afresh), so going back to an earlier key after a newer
  // one was sent could apply the value twice.
  let attempt = 0;
  while (Date.now() < until) {
    const alive = c.alive();
    const node = alive[Math.floor(Math.random() * alive.length)];
    if (!node) continue;
    // Each step appends its own number; the code is idempotent under its key, so a retry is safe.
    const value = k + 1;
    for (;;) {
      const key = `${name}-${value}-${attempt}`;
      const r = await c
        .post(node.id, '/api/exec?wait=30000', { code: `globalThis.seen ??= []; seen.push(${value}); seen.length`, session: name, language: 'js' }, { 'idempotency-key': key })
        .catch(() => null);
      if (r?.status === 200 && r.json.status === 'completed') {
        acknowledged.get(name)!.push(value);
        steps++;
        k = value;
        attempt = 0;
        break;
      }
      refused++;
      const kind = r === null ? 'no answer' : r.status === 200 ? `200 ${String(r.json.status)}${r.json.step === null ? ' without its step' : ''}` : String(r.status);
      refusals.set(kind, (refusals.get(kind) ?? 0) + 1);
      // The execution under this key ended without its step (its node was lost, or the commit failed
      // in a leader change; a step of an ended execution is refused afterwards): the value was not
      // applied, send it under a new key.
      if (r?.status === 200 && r.json.step === null) attempt++;
      if (Date.now() > until + 60_000) throw new Error(`step ${key} never acknowledged`);
      await new Promise((res) => setTimeout(res, 100));
      if (!c.node(node.id).child) break; // its node died: the value is sent again, under its latest key, elsewhere
    }
  }
}

async function chaos(): Promise<void> {
  while (Date.now() < until - 5_000) {
    await new Promise((res) => setTimeout(res, 3_000 + Math.random() * 5_000));
    const victim = c.alive()[Math.floor(Math.random() * c.alive().length)]!;
    await c.kill(victim.id);
    kills++;
    await new Promise((res) => setTimeout(res, 1_000 + Math.random() * 3_000));
    await c.restart(victim.id);
  }
}

try {
  await Promise.all([...Array.from({ length: SESSIONS }, (_, s) => driver(s)), chaos()]);
  await c.waitReady();
  let bad = 0;
  for (const [name, values] of acknowledged) {
    const r = await c.post(c.alive()[0]!.id, '/api/exec?wait=30000', { code: 'JSON.stringify(seen)', session: name, language: 'js' });
    const seen = JSON.parse(r.json.result as string) as number[];
    const journal = await c.get(c.alive()[1]!.id, `/api/sessions/${name}?steps_limit=1000`);
    // The session's state holds every acknowledged value exactly once, in acknowledgement order; the
    // journal has one step per value (plus the read just made).
    const ok = JSON.stringify(seen) === JSON.stringify(values) && journal.json.steps === values.length + 1;
    if (!ok) {
      bad++;
      // Where the state first parts from the acknowledged values, and what is around it: a lost, doubled or reordered step.
      let at = 0;
      while (at < values.length && seen[at] === values[at]) at++;
      // The journal's own state, rebuilt by a fork of the head the read made (`heap`: no warm isolate has it) on every live node.
      const rebuilt = [];
      for (const n of c.alive()) {
        const fork = await c.post(n.id, '/api/exec?wait=60000', { code: 'JSON.stringify(seen)', heap: journal.json.heap, language: 'js' });
        rebuilt.push(`${n.id}: ${JSON.stringify(fork.json.result) === JSON.stringify(r.json.result) ? 'the same' : `${(JSON.parse(fork.json.result as string) as number[]).length} values`}`);
      }
      console.error(
        `${name}: acknowledged ${values.length}, state has ${seen.length} (read on ${c.alive()[0]!.id}), journal ${journal.json.steps} steps; ` +
          `first difference at ${at}: acknowledged …${JSON.stringify(values.slice(Math.max(0, at - 3), at + 4))}, state …${JSON.stringify(seen.slice(Math.max(0, at - 3), at + 4))}; ` +
          `the journal rebuilt from its head: ${rebuilt.join(', ')}`,
      );
    }
  }
  console.log(`soak: ${steps} acknowledged steps over ${SESSIONS} sessions, ${kills} kills/restarts, ${refused} refused or retried attempts; ${bad === 0 ? 'every acknowledged step is in its journal exactly once, in order' : `${bad} sessions WRONG`}`);
  console.log(`soak: refused or retried attempts by answer: ${[...refusals].map(([kind, n]) => `${kind} ×${n}`).join(', ')}`);
  process.exitCode = bad === 0 ? 0 : 1;
} finally {
  await c.close();
}
