// The core against the Raft paper (and thesis), section by section, in the style of etcd's
// raft_paper_test.go. Synchronous in-memory network: no timers, no I/O.
import { describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../src/raft/conf-change.ts';
import { ProposalDroppedError } from '../../src/raft/errors.ts';
import { EntryType, MessageType, message, type ConfChange } from '../../src/raft/types.ts';
import { Network, drain, newRaft } from './memory-network.ts';

const enc = new TextEncoder();

function conf(net: Network, from: string, cc: ConfChange): void {
  net.get(from).proposeConfChange(cc, encodeConfChange(cc));
  net.send();
}

describe('§5.1 terms', () => {
  it('a node seeing a higher term becomes a follower of that term', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    const a = net.get('a');
    const term = a.term;
    a.step(message({ type: MessageType.App, from: 'b', to: 'a', term: term + 5, index: 0, logTerm: 0 }));
    expect(a.role).toBe('follower');
    expect(a.term).toBe(term + 5);
    expect(a.lead).toBe('b');
  });

  it('a request with a stale term is rejected and tells the sender the current term', () => {
    const r = newRaft('a', ['a', 'b', 'c']);
    r.step(message({ type: MessageType.Heartbeat, from: 'b', to: 'a', term: 5 }));
    drain(r);
    r.step(message({ type: MessageType.Heartbeat, from: 'c', to: 'a', term: 3 }));
    const { messages } = drain(r);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ type: MessageType.AppResp, to: 'c', term: 5 });
  });
});

describe('§5.2 leader election', () => {
  it('a follower campaigns after its election timeout and wins with a majority', () => {
    const net = new Network(['a', 'b', 'c']);
    net.tickAll(25);
    const leader = net.leader();
    expect(leader).toBeDefined();
    for (const r of net.nodes.values()) expect(r.lead).toBe(leader!.id);
  });

  it('each node votes for at most one candidate per term', () => {
    const r = newRaft('a', ['a', 'b', 'c'], { preVote: false });
    r.step(message({ type: MessageType.Vote, from: 'b', to: 'a', term: 2, index: 3, logTerm: 1 }));
    r.step(message({ type: MessageType.Vote, from: 'c', to: 'a', term: 2, index: 3, logTerm: 1 }));
    const votes = drain(r).messages.filter((m) => m.type === MessageType.VoteResp);
    expect(votes.map((m) => [m.to, m.reject])).toEqual([
      ['b', false],
      ['c', true],
    ]);
  });

  it('a candidate returns to follower on AppendEntries from a leader of its term', () => {
    const net = new Network(['a', 'b', 'c'], { preVote: false });
    net.isolate('b');
    net.campaign('b'); // b becomes candidate, cut off
    expect(net.get('b').role).toBe('candidate');
    net.recover();
    net.campaign('a');
    expect(net.get('a').role).toBe('leader');
    net.propose('a', 'x');
    expect(net.get('b').role).toBe('follower');
    expect(net.get('b').lead).toBe('a');
  });

  it('election timeouts are randomized in [electionTick, 2·electionTick)', () => {
    const timeouts = new Set<number>();
    for (let seed = 1; seed <= 20; seed++) {
      const r = newRaft('a', ['a', 'b', 'c'], { preVote: false }, seed);
      let ticks = 0;
      while (r.role === 'follower') {
        r.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      timeouts.add(ticks);
    }
    expect(timeouts.size).toBeGreaterThan(3);
  });

  it('pre-vote: a partitioned node does not inflate its term and does not disrupt the leader when it rejoins', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    const term = net.get('a').term;
    net.isolate('c');
    net.tickAll(100);
    expect(net.get('c').term).toBe(term);
    net.recover();
    net.tickAll(5);
    expect(net.get('a').role).toBe('leader');
    expect(net.get('a').term).toBe(term);
  });

  it('check-quorum: a leader cut off from a majority steps down', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('a');
    net.tickAll(25);
    expect(net.get('a').role).not.toBe('leader');
  });
});

describe('§5.3 log replication', () => {
  it('the leader commits an entry once a majority stored it, and followers apply it', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.cut('a', 'c');
    net.propose('a', 'x');
    expect(net.appliedText('a')).toEqual(['x']);
    expect(net.appliedText('b')).toEqual(['x']);
    expect(net.appliedText('c')).toEqual([]);
    net.recover();
    net.tickAll(2);
    expect(net.appliedText('c')).toEqual(['x']);
  });

  it('replication starts on proposal, not on the next heartbeat', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.ignore(MessageType.Heartbeat);
    net.propose('a', 'x');
    expect(net.appliedText('c')).toEqual(['x']);
  });

  it('a follower drops conflicting uncommitted entries and takes the leader\'s', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('a');
    for (let i = 0; i < 5; i++) net.get('a').propose([enc.encode(`lost${i}`)]);
    net.send();
    net.tickAll(25); // a steps down (check-quorum); b or c is elected
    const leader = net.leader()!;
    expect(leader.id).not.toBe('a');
    net.propose(leader.id, 'kept');
    net.recover();
    net.tickAll(25);
    for (const id of ['a', 'b', 'c']) expect(net.appliedText(id)).toEqual(['kept']);
  });

  it('fast backtracking: a follower far behind in an old term is repaired in a few round trips', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    for (let i = 0; i < 200; i++) net.get('a').propose([enc.encode(`e${i}`)]);
    net.send();
    net.recover();
    net.tickAll(3);
    expect(net.appliedText('c')).toHaveLength(200);
    const rejects = net.trace.filter((m) => m.from === 'c' && m.type === MessageType.AppResp && m.reject);
    expect(rejects.length).toBeLessThanOrEqual(2);
  });
});

describe('§5.4 safety', () => {
  it('§5.4.1 a voter rejects a candidate whose log is less up to date', () => {
    const r = newRaft('a', ['a', 'b', 'c'], { preVote: false });
    r.step(message({ type: MessageType.Vote, from: 'b', to: 'a', term: 2, index: 1, logTerm: 1 }));
    const [resp] = drain(r).messages;
    expect(resp).toMatchObject({ type: MessageType.VoteResp, reject: true });
  });

  it('§5.4.2 a leader does not commit entries of a previous term by counting replicas', () => {
    const a = newRaft('a', ['a', 'b', 'c'], { preVote: false });
    const win = () => {
      a.campaign();
      a.step(message({ type: MessageType.VoteResp, from: 'b', to: 'a', term: a.term }));
      drain(a);
      expect(a.role).toBe('leader');
    };
    win(); // term 2
    a.propose([enc.encode('old')]);
    const oldIndex = a.log.lastIndex();
    drain(a); // nothing delivered
    a.step(message({ type: MessageType.Heartbeat, from: 'c', to: 'a', term: a.term + 1 }));
    drain(a);
    win(); // term 4, with its own no-op after the term-2 entry
    const committedBefore = a.log.committed;
    a.step(message({ type: MessageType.AppResp, from: 'b', to: 'a', term: a.term, index: oldIndex }));
    drain(a);
    expect(a.log.committed).toBe(committedBefore); // a majority holds `old`, but it is from term 2
    a.step(message({ type: MessageType.AppResp, from: 'b', to: 'a', term: a.term, index: oldIndex + 1 }));
    drain(a);
    expect(a.log.committed).toBe(oldIndex + 1); // committing the term-4 entry commits `old` with it
  });

  it('leader completeness: a new leader holds every committed entry', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    net.isolate('a');
    net.tickAll(30);
    const leader = net.leader()!;
    expect(leader.id).not.toBe('a');
    const texts = leader.log.slice(leader.log.firstIndex(), leader.log.lastIndex() + 1).map((e) => new TextDecoder().decode(e.data));
    expect(texts).toContain('x');
  });
});

describe('§6 cluster membership changes', () => {
  it('a learner receives entries but does not vote; once promoted it counts for quorum', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.add(newRaft('d', [], {}, 9));
    conf(net, 'a', { type: 'addLearner', id: 'd' });
    net.propose('a', 'x');
    expect(net.appliedText('d')).toEqual(['x']);
    expect(net.get('a').conf.learners).toEqual(['d']);
    expect(net.get('a').isVoter('d')).toBe(false);
    conf(net, 'a', { type: 'promote', id: 'd' });
    expect(net.get('d').conf.voters).toContain('d');
    net.isolate('b');
    net.isolate('c');
    net.propose('a', 'y'); // a + d are 2 of 4: not a quorum
    expect(net.appliedText('d')).toEqual(['x']);
  });

  it('one membership change at a time', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('a');
    const a = net.get('a');
    a.proposeConfChange({ type: 'addLearner', id: 'd' }, encodeConfChange({ type: 'addLearner', id: 'd' }));
    expect(() => a.proposeConfChange({ type: 'addLearner', id: 'e' }, encodeConfChange({ type: 'addLearner', id: 'e' }))).toThrow(
      ProposalDroppedError,
    );
  });

  it('a removed member no longer counts and a removed leader steps down', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    conf(net, 'a', { type: 'remove', id: 'c' });
    net.isolate('c');
    net.propose('a', 'x');
    expect(net.appliedText('b')).toEqual(['x']);
    conf(net, 'a', { type: 'remove', id: 'a' });
    expect(net.get('a').role).toBe('follower');
    net.tickAll(30);
    expect(net.leader()?.id).toBe('b');
  });

  it('leadership transfer: the target catches up and is told to campaign at once (TimeoutNow)', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    net.get('a').transferLeadership('c');
    net.send();
    expect(net.leader()?.id).toBe('c');
    expect(() => net.get('a').propose([enc.encode('y')])).toThrow();
  });
});

describe('§7 log compaction', () => {
  it('a follower behind the compacted log is brought up with InstallSnapshot', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.isolate('c');
    for (let i = 0; i < 20; i++) net.propose('a', `e${i}`);
    const a = net.get('a');
    const idx = a.log.applied;
    a.compact({ meta: { index: idx, term: a.log.term(idx)!, conf: a.conf }, data: enc.encode('state') }, 0);
    expect(a.log.firstIndex()).toBe(idx + 1);
    const c = net.get('c');
    net.recover();
    net.tickAll(3);
    expect(net.trace.filter((m) => m.type === MessageType.Snap && m.to === 'c')).toHaveLength(1);
    expect(c.log.committed).toBeGreaterThanOrEqual(idx);
    net.propose('a', 'after');
    expect(net.appliedText('c')).toEqual(['after']);
  });
});

describe('§8 / thesis §6.4 linearizable reads (ReadIndex)', () => {
  it('the leader answers with its commit index once a heartbeat round confirms it still leads', () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    net.get('a').readIndex(enc.encode('r1'));
    net.send();
    expect(net.readStates.get('a')).toEqual([net.get('a').log.committed]);
    expect(net.trace.some((m) => m.type === MessageType.Heartbeat && m.context !== undefined)).toBe(true);
  });

  it("a follower's read is answered by the leader; a leader cut off from a majority answers none", () => {
    const net = new Network(['a', 'b', 'c']);
    net.campaign('a');
    net.propose('a', 'x');
    net.get('b').readIndex(enc.encode('rb'));
    net.send();
    expect(net.readStates.get('b')).toEqual([net.get('a').log.committed]);
    net.isolate('a');
    net.get('a').readIndex(enc.encode('ra'));
    net.send();
    expect(net.readStates.get('a')).toEqual([]);
  });

  it('lease-based reads (opt-in) answer without a heartbeat round', () => {
    const net = new Network(['a', 'b', 'c'], { leaseRead: true });
    net.campaign('a');
    net.isolate('a');
    net.get('a').readIndex(enc.encode('r'));
    net.send();
    expect(net.readStates.get('a')).toHaveLength(1);
  });
});

describe('entries handed to the application', () => {
  it('no-op and membership entries are not commands', () => {
    const net = new Network(['a']);
    net.campaign('a');
    net.propose('a', 'x');
    const types = net.get('a').log.slice(1, net.get('a').log.lastIndex() + 1).map((e) => e.type);
    expect(types).toContain(EntryType.ConfChange);
    expect(net.appliedText('a')).toEqual(['x']);
  });
});
