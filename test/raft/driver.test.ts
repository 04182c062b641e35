import { beforeEach, describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../src/raft/conf-change.ts';
import { runReady } from '../../src/raft/driver.ts';
import type { Raft } from '../../src/raft/raft.ts';
import type { ConfChange, Message } from '../../src/raft/types.ts';
import { drain, Network } from './memory-network.ts';

// The order of one turn of the Ready loop, with a persist that ends only when the test says so.
let net: Network;
let leader: Raft;
beforeEach(() => {
  net = new Network(['a', 'b', 'c']);
  net.campaign('a');
  leader = net.get('a');
});

function turn() {
  const events: string[] = [];
  const sent: Message[] = [];
  let persisted = () => {};
  const done = runReady(leader, {
    persist: () => {
      events.push('persist');
      return new Promise<void>((resolve) => {
        persisted = () => {
          events.push('persisted');
          resolve();
        };
      });
    },
    restore: () => undefined,
    send: (msgs) => sent.push(...msgs),
    readStates: () => undefined,
    apply: (ents) => {
      events.push(`apply ${ents.map((e) => e.index).join(',')}`);
    },
    advanced: () => {
      events.push('advanced');
    },
  });
  return { events, sent, finish: async () => (persisted(), await done) };
}

/** The followers take the leader's appends; their answers reach the leader's core, not yet its Ready. */
function acknowledge(appends: Message[]): void {
  for (const m of appends) {
    const follower = net.get(m.to);
    follower.step(m);
    for (const answer of drain(follower).messages) leader.step(answer);
  }
}

/** Proposes and persists an entry, and has the followers acknowledge it: its commit is the leader's next Ready. */
async function appended(propose: () => { index: number }): Promise<number> {
  const { index } = propose();
  const append = turn();
  await append.finish();
  expect(append.events).toEqual(['persist', 'persisted', 'advanced']); // nothing committed yet
  acknowledge(append.sent);
  return index;
}

const data = (text: string) => [new TextEncoder().encode(text)];

describe('runReady', () => {
  it('applies a Ready that only commits while its persist runs (the commit index is volatile)', async () => {
    const index = await appended(() => leader.propose(data('x')));
    const commit = turn();
    expect(commit.events).toEqual([`apply ${index}`, 'persist']);
    await commit.finish();
    expect(commit.events).toEqual([`apply ${index}`, 'persist', 'persisted', 'advanced']);
  });

  it('applies after the persist when the Ready also brings new entries', async () => {
    const first = await appended(() => leader.propose(data('x')));
    leader.propose(data('y'));
    const both = turn();
    expect(both.events).toEqual(['persist']);
    await both.finish();
    expect(both.events).toEqual(['persist', 'persisted', `apply ${first}`, 'advanced']);
  });

  it('applies a membership change after the persist', async () => {
    const cc: ConfChange = { type: 'addLearner', id: 'd', addr: 'http://d.invalid' };
    const index = await appended(() => leader.proposeConfChange(cc, encodeConfChange(cc)));
    const commit = turn();
    expect(commit.events).toEqual(['persist']);
    await commit.finish();
    expect(commit.events).toEqual(['persist', 'persisted', `apply ${index}`, 'advanced']);
  });
});
