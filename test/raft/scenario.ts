// etcd-style interaction scripts (raft/testdata/*.txt) for raftbox's own Raft additions: a text
// file of commands, each followed by `----` and the output it must print, replayed over the
// in-memory network (memory-network.ts), so a whole scenario reads top to bottom and replays
// exactly. `REWRITE_SCENARIOS=1 npx vitest run test/raft/scenarios.test.ts` writes the outputs the
// code prints now into the files (read the diff before committing it).
//
// Commands (ids are node names; every command prints `ok` unless it says otherwise):
//   cluster a b c              a network of voters a, b, c (bootstrapped as `raftbox serve` does)
//   campaign a | propose a x | tick [n] | tick-node a [n] | isolate a | cut a b | recover
//   add-learner a d            leader a appends the membership change "d joins as a learner"
//   start d                    d starts with an empty log and membership (a joining node)
//   compact a                  a snapshots its state at its applied index and drops its log before it
//   snapshot-chunks 4          a Snap message's state travels as chunks of this many bytes, then the message (src/raft/snapshot-chunks.ts)
//   drop-chunk 2               the next snapshot sent loses its 2nd call
//   read a ctx                 a linearizable read point (ReadIndex); prints the read states a has
//   local-read b               where a local read on b is served from (src/raft/read-barriers.ts)
//   promotion a d silence=3    leader a's verdict on learner d (src/raft/learner-promotion.ts)
//   status                     each node: role, term, leader, commit, applied, voters, learners
//   trace                      the messages delivered since the last trace
import { encodeConfChange } from '../../src/raft/conf-change.ts';
import { bootCore } from '../../src/raft/driver.ts';
import { learnerReadiness } from '../../src/raft/learner-promotion.ts';
import { cloneConf } from '../../src/raft/raft.ts';
import { localReadPoint } from '../../src/raft/read-barriers.ts';
import { chunkMeta, SnapshotReceiver } from '../../src/raft/snapshot-chunks.ts';
import { MessageType, type ConfChange, type Message } from '../../src/raft/types.ts';
import { seeded } from '../support/random.ts';
import { Network, drain } from './memory-network.ts';

export interface Block {
  line: number;
  command: string;
  expected: string;
}

export function parseScript(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (l.trim() === '' || l.startsWith('#')) {
      i++;
      continue;
    }
    const line = i + 1;
    if (lines[i + 1] !== '----') throw new Error(`line ${line}: a command is followed by ---- and its output`);
    i += 2;
    const out: string[] = [];
    while (i < lines.length && lines[i] !== '') out.push(lines[i++]!);
    blocks.push({ line, command: l, expected: out.join('\n') });
  }
  return blocks;
}

export function formatScript(text: string, outputs: string[]): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let i = 0;
  let b = 0;
  while (i < lines.length) {
    const l = lines[i]!;
    if (l.trim() === '' || l.startsWith('#')) {
      out.push(l);
      i++;
      continue;
    }
    out.push(l, '----', outputs[b++]!);
    i += 2;
    while (i < lines.length && lines[i] !== '') i++;
  }
  return out.join('\n');
}

const TYPE_NAMES = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));

export class Scenario {
  private net: Network | undefined;
  private seen = 0;
  private chunkSize = 0;
  private dropChunk = 0;
  private readonly notes = new Map<Message, string>();
  // The node's receiving side, over an in-memory restore that collects the state's bytes.
  private readonly receiver = new SnapshotReceiver<Uint8Array[]>(
    () => [],
    () => undefined,
  );
  private transfers = 0;

  run(command: string): string {
    const [cmd, ...args] = command.trim().split(/\s+/);
    switch (cmd) {
      case 'cluster':
        this.net = new Network(args, { electionTick: 10, heartbeatTick: 1 });
        this.net.snapshotPath = (m) => this.sendSnapshot(m);
        return 'ok';
      case 'campaign':
        this.network.campaign(args[0]!);
        return 'ok';
      case 'propose':
        this.network.propose(args[0]!, args[1] ?? 'x');
        return 'ok';
      case 'tick':
        this.network.tickAll(Number(args[0] ?? 1));
        return 'ok';
      case 'tick-node': {
        for (let i = 0; i < Number(args[1] ?? 1); i++) this.network.get(args[0]!).tick();
        this.network.send();
        return 'ok';
      }
      case 'isolate':
        this.network.isolate(args[0]!);
        return 'ok';
      case 'cut':
        this.network.cut(args[0]!, args[1]!);
        return 'ok';
      case 'recover':
        this.network.recover();
        return 'ok';
      case 'add-learner': {
        const cc: ConfChange = { type: 'addLearner', id: args[1]!, addr: `http://${args[1]}` };
        this.network.get(args[0]!).proposeConfChange(cc, encodeConfChange(cc));
        this.network.send();
        return 'ok';
      }
      case 'start': {
        const r = bootCore({ entries: [] }, { id: args[0]!, electionTick: 10, heartbeatTick: 1, random: seeded(99) });
        drain(r);
        this.network.add(r);
        this.network.send();
        return 'ok';
      }
      case 'compact': {
        const r = this.network.get(args[0]!);
        const applied = r.log.applied;
        const data = new TextEncoder().encode(JSON.stringify(this.network.appliedText(r.id)));
        r.compact({ meta: { index: applied, term: r.log.term(applied)!, conf: cloneConf(r.conf) }, data }, 0);
        return `${r.id}: snapshot at ${applied}, log starts at ${r.log.firstIndex()}`;
      }
      case 'snapshot-chunks':
        this.chunkSize = Number(args[0]);
        return 'ok';
      case 'drop-chunk':
        this.dropChunk = Number(args[0]);
        return 'ok';
      case 'read': {
        const r = this.network.get(args[0]!);
        try {
          r.readIndex(new TextEncoder().encode(args[1] ?? 'r'));
        } catch (e) {
          return `${r.id}: ${(e as Error).message}`;
        }
        this.network.send();
        return `${r.id}: read states ${JSON.stringify(this.network.readStates.get(r.id))}`;
      }
      case 'local-read': {
        const r = this.network.get(args[0]!);
        const at = localReadPoint(r);
        if (at === null) return `${r.id}: waits (no leader known)`;
        return `${r.id}: ${r.log.applied >= at ? 'serves' : 'waits'} at commit ${at} (applied ${r.log.applied})`;
      }
      case 'promotion': {
        const leader = this.network.get(args[0]!);
        const silence = Number((args[2] ?? 'silence=10').split('=')[1]);
        const pr = leader.progress()[args[1]!];
        const contact = pr ? ` (match ${pr.match} of commit ${leader.log.committed}, silent ${pr.ticksSinceContact} ticks)` : '';
        return `${args[1]}: ${learnerReadiness(pr, leader.log.committed, silence)}${contact}`;
      }
      case 'status':
        return [...this.network.nodes.values()]
          .map((r) => `${r.id}: ${r.role} term=${r.term} lead=${r.lead ?? '-'} commit=${r.log.committed} applied=${r.log.applied} voters=${r.conf.voters.join(',')} learners=${r.conf.learners.join(',') || '-'}`)
          .join('\n');
      case 'trace': {
        const ms = this.network.trace.slice(this.seen);
        this.seen = this.network.trace.length;
        return ms.length === 0 ? '(no messages)' : ms.map((m) => this.notes.get(m) ?? describe(m)).join('\n');
      }
      default:
        throw new Error(`unknown command ${cmd}`);
    }
  }

  private get network(): Network {
    if (!this.net) throw new Error('no cluster yet');
    return this.net;
  }

  /**
   * A Snap message over the chunked path (when set), as between two nodes: its state's bytes cut into
   * chunks, then the message itself, each call accepted by the receiver in order.
   */
  private sendSnapshot(m: Message): Message | undefined {
    if (this.chunkSize === 0) return m;
    const data = m.snapshot!.data;
    const id = `t${++this.transfers}`;
    const calls: Uint8Array[] = [];
    for (let off = 0; off < data.length; off += this.chunkSize) calls.push(data.subarray(off, off + this.chunkSize));
    const total = calls.length + 1;
    let restore: Uint8Array[] | undefined;
    for (let i = 0; i < total; i++) {
      if (this.dropChunk === i + 1) {
        this.dropChunk = 0;
        const lost = `${m.from}->${m.to} Snap index=${m.snapshot!.meta.index}: call ${i + 1} of ${total} lost, transfer failed`;
        this.network.trace.push(m);
        this.notes.set(m, lost);
        return undefined;
      }
      restore = this.receiver.accept(m.from, chunkMeta(id, i, i === total - 1));
      if (!restore) throw new Error(`call ${i + 1} of the snapshot was refused`);
      if (i < total - 1) restore.push(calls[i]!);
    }
    const arrived: Message = { ...m, snapshot: { meta: m.snapshot!.meta, data: Buffer.concat(restore!) } };
    this.notes.set(arrived, `${describe(arrived)} (${calls.length} chunks of at most ${this.chunkSize} bytes, then the message)`);
    return arrived;
  }
}

function describe(m: Message): string {
  const head = `${m.from}->${m.to} ${TYPE_NAMES.get(m.type)} term=${m.term}`;
  switch (m.type) {
    case MessageType.App:
      return `${head} prev=${m.index}/${m.logTerm} commit=${m.commit} entries=${m.entries.map((e) => `${e.index}/${e.term}`).join(',') || '-'}${m.commitOnly ? ' commit-only' : ''}`;
    case MessageType.AppResp:
      return `${head} index=${m.index}${m.reject ? ` rejected hint=${m.rejectHint}` : ''}`;
    case MessageType.Vote:
    case MessageType.PreVote:
      return `${head} last=${m.index}/${m.logTerm}`;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      return `${head}${m.reject ? ' rejected' : ' granted'}`;
    case MessageType.Heartbeat:
      return `${head} commit=${m.commit}${m.context ? ' (read)' : ''}`;
    case MessageType.Snap:
      return `${head} index=${m.snapshot!.meta.index} voters=${m.snapshot!.meta.conf.voters.join(',')} learners=${m.snapshot!.meta.conf.learners.join(',') || '-'}`;
    case MessageType.ReadIndexResp:
      return `${head} index=${m.index}`;
    default:
      return head;
  }
}
