import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveSession } from '../../src/sandbox/index.ts';
import { Fixture } from './fixture.ts';

// Sessions whose contexts share an isolate (--sessions-per-isolate): what one session's limit costs the others.
let f: Fixture;
beforeEach(async () => {
  f = await Fixture.open();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await f.close();
});

const WAIT = { waitMs: 20_000 };
const STUCK = { code: 'while (true) {}', timeoutSecs: 0.2 };
const started = () => new Promise((resolve) => setTimeout(resolve, 50));

describe.each([
  [1, false],
  [4, true],
])('with %i session(s) to an isolate', (sessionsPerIsolate, shares) => {
  it(`a timeout in one session ${shares ? 'costs another session of its subject a rebuild' : 'leaves the other sessions warm'}, never a step`, async () => {
    const node = await f.node({ sessionsPerIsolate, sessionStandbys: 'off' });
    await node.executions.run({ code: 'let a = 1', session: 'a', subject: 'alice' }, WAIT);
    await node.executions.run({ code: 'let b = 2', session: 'b', subject: 'alice' }, WAIT);
    expect(await node.executions.run({ ...STUCK, session: 'a', subject: 'alice' }, WAIT)).toMatchObject({ status: 'timeout' });
    const replays = vi.spyOn(LiveSession.prototype, 'replay');
    expect(await node.executions.run({ code: 'b += 1; b', session: 'b', subject: 'alice' }, WAIT)).toMatchObject({ status: 'completed', result: 3, step: 2 });
    expect(replays).toHaveBeenCalledTimes(shares ? 1 : 0);
    expect(await node.executions.run({ code: 'a', session: 'a', subject: 'alice' }, WAIT)).toMatchObject({ status: 'completed', result: 1, step: 2 });
  });
});

describe('sessions sharing isolates', () => {
  it('never share one across subjects', async () => {
    const node = await f.node({ sessionsPerIsolate: 4, sessionStandbys: 'off' });
    await node.executions.run({ code: 'let a = 1', session: 'a', subject: 'alice' }, WAIT);
    await node.executions.run({ code: 'let b = 2', session: 'b', subject: 'bob' }, WAIT);
    expect(await node.executions.run({ ...STUCK, session: 'a', subject: 'alice' }, WAIT)).toMatchObject({ status: 'timeout' });
    const replays = vi.spyOn(LiveSession.prototype, 'replay');
    expect(await node.executions.run({ code: 'b', session: 'b', subject: 'bob' }, WAIT)).toMatchObject({ status: 'completed', result: 2 });
    expect(replays).not.toHaveBeenCalled();
  });

  it('run a step that waited behind another session losing the isolate on its rebuilt session', async () => {
    const node = await f.node({ sessionsPerIsolate: 4, sessionStandbys: 'off' });
    await node.executions.run({ code: 'let a = 1', session: 'a', subject: 'alice' }, WAIT);
    await node.executions.run({ code: 'let b = 2', session: 'b', subject: 'alice' }, WAIT);
    const stuck = node.executions.run({ ...STUCK, session: 'a', subject: 'alice' }, WAIT);
    await started();
    const waiting = node.executions.run({ code: 'b += 1; b', session: 'b', subject: 'alice' }, WAIT);
    expect(await stuck).toMatchObject({ status: 'timeout' });
    expect(await waiting).toMatchObject({ status: 'completed', result: 3, step: 2 });
  });

  it('rebuild a session whose replay waited behind another session losing the isolate, in an isolate of its own', async () => {
    const here = await f.node({ sessionsPerIsolate: 4, sessionStandbys: 'off' });
    const elsewhere = await f.node({ sessionStandbys: 'off' });
    await here.executions.run({ code: 'let a = 1', session: 'a', subject: 'alice' }, WAIT);
    await here.executions.run({ code: 'let b = 1', session: 'b', subject: 'alice' }, WAIT);
    // A step on another node: `here` holds b one step behind, and replays it on b's next step.
    await elsewhere.executions.run({ code: 'b += 1', session: 'b', subject: 'alice' }, WAIT);
    const created = vi.spyOn(LiveSession, 'create');
    const stuck = here.executions.run({ ...STUCK, session: 'a', subject: 'alice' }, WAIT);
    await started();
    const behind = here.executions.run({ code: 'b += 1; b', session: 'b', subject: 'alice' }, WAIT);
    expect(await stuck).toMatchObject({ status: 'timeout' });
    expect(await behind).toMatchObject({ status: 'completed', result: 3, step: 3 });
    // Its rebuild: in an isolate of its own (no share given).
    expect(created.mock.calls.some((call) => call[2] === undefined)).toBe(true);
  });
});
