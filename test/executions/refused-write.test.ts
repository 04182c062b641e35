// A session step whose commit is refused (503, no leader) is answered with the refusal and leaves no
// `failed` record behind: its id never reached the caller, so no one could ask for it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unavailable } from '../../src/errors.ts';
import { createDomain, type Domain } from '../../src/executions/index.ts';
import type { CommandLog } from '../../src/store/index.ts';
import { Fixture } from '../sessions/fixture.ts';

let f: Fixture;
let domain: Domain;
let refuseSteps = true;
beforeEach(async () => {
  f = await Fixture.open();
  // The real log, except that session steps are refused as during an election.
  const log = Object.create(f.log) as CommandLog;
  log.propose = (cmd) => (refuseSteps && cmd.type === 'execution.step' ? Promise.reject(unavailable('no reachable leader', 1)) : f.log.propose(cmd));
  domain = await createDomain({ state: f.state, log, pool: f.pool, options: {} });
});
afterEach(async () => {
  await domain.close();
  await f.close();
});

describe('a refused session step', () => {
  it('is answered 503 and leaves no execution record', async () => {
    await expect(domain.executions.run({ code: 'let x = 1', session: 's' }, { waitMs: 10_000 })).rejects.toMatchObject({ status: 503 });
    await f.log.linearizableRead();
    expect((await domain.executions.list({})).executions).toEqual([]);
    // Once a leader takes writes again, the same step runs and is recorded once.
    refuseSteps = false;
    const e = await domain.executions.run({ code: 'let x = 1; x', session: 's' }, { waitMs: 10_000 });
    expect(e).toMatchObject({ status: 'completed', result: 1 });
    expect((await domain.executions.list({})).executions.map((x) => x.id)).toEqual([e.id]);
  });
});
