// `execution.step` applied by the real replicated state: a session step and its execution record
// commit together or not at all, whichever of the two refuses.
import { describe, expect, it } from 'vitest';
import { EXECUTION_MODULE } from '../../src/executions/index.ts';
import { SESSION_MODULE } from '../../src/sessions/index.ts';
import { perTestNode } from '../sessions/fixture.ts';

const t = perTestNode();

const ID = '01890000-0000-7000-8000-000000000001';
const record = (status: string) => ({
  id: ID,
  status,
  result: status === 'completed' ? 1 : null,
  resultText: status === 'completed' ? '1' : null,
  console: [],
  consoleTruncated: false,
  error: null,
  session: 's',
  step: 1,
  heap: 'a'.repeat(64),
  tags: {},
  node: 'n1',
  createdAt: '2026-12-07T00:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  durationMs: null,
  subject: null,
  boot: 'boot',
  idempotencyKey: null,
});
const object = { parent: null, step: 1, code: '1', language: 'js', seed: 'seed', clock: 1, memoryMb: 64, subject: null, threw: false, createdAt: '2026-12-07T00:00:00.000Z' };
const step = (expect: string | null) => ({ type: 'session.step', heap: 'a'.repeat(64), object, session: 's', expect, subject: null });
const retention = { keep: 100 };

describe('a session step with its execution record', () => {
  it('commits both in one command', async () => {
    await t.f.log.propose({ type: 'execution.create', record: record('queued') });
    expect(await t.f.log.propose({ type: 'execution.step', step: step(null), record: record('completed'), ...retention })).toEqual({ ok: true, duplicate: false });
    expect(t.f.state.get(SESSION_MODULE, 'name//s')).toMatchObject({ head: 'a'.repeat(64), steps: 1 });
    expect(t.f.state.get(EXECUTION_MODULE, `rec/${ID}`)).toMatchObject({ status: 'completed' });
  });

  it('writes neither when the record has finished already (say failed as "node lost")', async () => {
    await t.f.log.propose({ type: 'execution.finish', record: record('failed'), ...retention });
    expect(await t.f.log.propose({ type: 'execution.step', step: step(null), record: record('completed'), ...retention })).toEqual({ ok: false, reason: 'record_closed' });
    expect(t.f.state.get(SESSION_MODULE, 'name//s')).toBeUndefined();
    expect(t.f.state.get(SESSION_MODULE, `heap/${'a'.repeat(64)}`)).toBeUndefined();
    expect(t.f.state.get(EXECUTION_MODULE, `rec/${ID}`)).toMatchObject({ status: 'failed' });
  });

  it('changes nothing when applied again (proposed again after an unknown outcome), though the session moved on', async () => {
    await t.f.log.propose({ type: 'execution.create', record: record('running') });
    const first = { type: 'execution.step', step: step(null), record: { ...record('completed'), finishedAt: '2026-12-07T00:00:01.000Z' }, ...retention };
    expect(await t.f.log.propose(first)).toEqual({ ok: true, duplicate: false });
    const OTHER = '01890000-0000-7000-8000-000000000002';
    const next = { type: 'session.step', heap: 'c'.repeat(64), object: { ...object, parent: 'a'.repeat(64), step: 2 }, session: 's', expect: 'a'.repeat(64), subject: null };
    const second = { ...record('completed'), id: OTHER, heap: 'c'.repeat(64), step: 2, finishedAt: '2026-12-07T00:00:02.000Z' };
    expect(await t.f.log.propose({ type: 'execution.step', step: next, record: second, ...retention })).toEqual({ ok: true, duplicate: false });
    const before = (await t.f.state.digest()).sha256;
    expect(await t.f.log.propose(first)).toEqual({ ok: true, duplicate: true });
    expect((await t.f.state.digest()).sha256).toBe(before);
    expect(t.f.state.get(SESSION_MODULE, 'name//s')).toMatchObject({ head: 'c'.repeat(64), steps: 2 });
  });

  it('writes neither when the session moved under the step', async () => {
    await t.f.log.propose({ type: 'execution.create', record: record('running') });
    const moved = await t.f.log.propose({ type: 'execution.step', step: step('b'.repeat(64)), record: record('completed'), ...retention });
    expect(moved).toEqual({ ok: false, reason: 'moved', head: null });
    expect(t.f.state.get(SESSION_MODULE, 'name//s')).toBeUndefined();
    expect(t.f.state.get(EXECUTION_MODULE, `rec/${ID}`)).toMatchObject({ status: 'running' });
  });
});
