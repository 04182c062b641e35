import { describe, expect, it } from 'vitest';
import type { ClaimCommand } from '../../src/sessions/session-claims.ts';
import { sessionModule, stateId, type StateObject, type StepCommand } from '../../src/sessions/session-state.ts';
import type { Json, Tx } from '../../src/store/index.ts';

// The session module's reducer over an in-memory namespace: what every replica applies.
function memoryTx(): Tx & { data: Map<string, Json> } {
  const data = new Map<string, Json>();
  const tx = {
    data,
    index: 1,
    get: (k: string) => data.get(k),
    put: (k: string, v: Json) => void data.set(k, v),
    del: (k: string) => void data.delete(k),
    scan: (p: string) => [...data].filter(([k]) => k.startsWith(p)).sort(([a], [b]) => (a < b ? -1 : 1)),
    namespace: () => tx,
  };
  return tx;
}

const apply = (tx: Tx, cmd: StepCommand | ClaimCommand | { type: string; [k: string]: Json | undefined }) => sessionModule.apply(cmd as never, tx);

function step(parent: string | null, expect: string | null, extra: Partial<StepCommand> = {}): StepCommand {
  const object: StateObject = { parent, step: 1, code: 'x', language: 'js', seed: `${Math.random()}`, clock: 1000, memoryMb: 64, subject: null, threw: false, createdAt: new Date(1000).toISOString() };
  return { type: 'session.step', heap: stateId(object), object, session: 's', expect, subject: null, at: 1000, ...extra };
}

const claim = (expect: string | null, id: string, at: number, until: number): ClaimCommand => ({ type: 'session.claim', session: 's', subject: null, expect, claim: id, node: `node-${id}`, at, until });

describe('session claims', () => {
  it('a claim holds the session against other steps until it commits, is released or expires', () => {
    const tx = memoryTx();
    const first = step(null, null);
    expect(apply(tx, first)).toEqual({ ok: true, duplicate: false });
    const head = first.heap;
    expect(apply(tx, claim(null, 'stale', 1000, 5000))).toEqual({ ok: false, reason: 'moved', head });
    expect(apply(tx, claim(head, 'a', 1000, 5000))).toEqual({ ok: true });
    expect(apply(tx, claim(head, 'b', 2000, 6000))).toEqual({ ok: false, reason: 'claimed', node: 'node-a', until: 5000 });
    // A step that holds no claim is refused while the claim lasts, accepted after it expired.
    expect(apply(tx, step(head, head, { at: 4999 }))).toEqual({ ok: false, reason: 'claimed', node: 'node-a', until: 5000 });
    // The holder commits: the claim is gone with the move.
    const held = step(head, head, { claim: 'a', at: 3000, hostCalls: [{ call: 0, answer: 'x' }] });
    expect(apply(tx, held)).toEqual({ ok: true, duplicate: false });
    expect([...tx.data.keys()].filter((k) => k.startsWith('claim/'))).toEqual([]);
    expect(tx.data.get(`calls/${held.heap}`)).toEqual([{ call: 0, answer: 'x' }]);
    expect(apply(tx, claim(held.heap, 'c', 3000, 7000))).toEqual({ ok: true });
    expect(apply(tx, step(held.heap, held.heap, { at: 7000 }))).toEqual({ ok: true, duplicate: false });
  });

  it('a released claim lets the next step through; a release by another claim changes nothing', () => {
    const tx = memoryTx();
    const first = step(null, null);
    apply(tx, first);
    apply(tx, claim(first.heap, 'a', 1000, 9000));
    expect(apply(tx, { type: 'session.release', session: 's', subject: null, claim: 'other' })).toEqual({ ok: false });
    expect(apply(tx, step(first.heap, first.heap, { at: 2000 }))).toMatchObject({ ok: false, reason: 'claimed' });
    expect(apply(tx, { type: 'session.release', session: 's', subject: null, claim: 'a' })).toEqual({ ok: true });
    expect(apply(tx, step(first.heap, first.heap, { at: 2000 }))).toEqual({ ok: true, duplicate: false });
  });
});
