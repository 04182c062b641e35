// In-memory network of raft cores for unit tests (etcd's `network` in raft_test.go): synchronous
// delivery, a synced "disk" that is just the core's stable storage, and drop/isolate filters. The
// cores are booted and their Readies run by the driver RaftNode uses (src/raft/driver.ts).
import type { Raft, RaftConfig } from '../../src/raft/raft.ts';
import { bootCore, runReady } from '../../src/raft/driver.ts';
import { bootstrapLog } from '../../src/raft/conf-change.ts';
import { seeded } from '../support/random.ts';
import { EntryType, MessageType, type LogEntry, type Message, type NodeId } from '../../src/raft/types.ts';

export function newRaft(id: NodeId, ids: NodeId[], opts: Partial<RaftConfig> = {}, seed = 1): Raft {
  const r = bootCore(bootstrapLog(ids), { id, electionTick: 10, heartbeatTick: 1, random: seeded(seed), ...opts });
  drain(r); // apply the bootstrap membership
  return r;
}

/** Runs every Ready the core has; returns their messages, applied commands and read indexes. */
export function drain(r: Raft): { messages: Message[]; applied: LogEntry[]; readStates: number[] } {
  const messages: Message[] = [];
  const applied: LogEntry[] = [];
  const readStates: number[] = [];
  while (r.hasReady()) {
    runReady(r, {
      persist: () => undefined, // the core's stable storage is this network's disk
      restore: () => undefined,
      send: (msgs) => messages.push(...msgs),
      readStates: (states) => readStates.push(...states.map((s) => s.index)),
      apply: (ents) => {
        applied.push(...ents.filter((e) => e.type === EntryType.Normal && e.data.length > 0));
      },
      advanced: () => undefined,
    });
  }
  return { messages, applied, readStates };
}

export class Network {
  readonly nodes = new Map<NodeId, Raft>();
  readonly applied = new Map<NodeId, LogEntry[]>();
  readonly readStates = new Map<NodeId, number[]>();
  /** Every message delivered, in order. */
  readonly trace: Message[] = [];
  /**
   * How a Snap message travels. Unset: whole, and the sender hears nothing (as the paper's tests
   * assume). Set: the message that arrives, or undefined when it was lost; the sender is told which,
   * as RaftNode's transport tells its core.
   */
  snapshotPath: ((m: Message) => Message | undefined) | undefined;
  private dropped = new Set<string>();
  private ignored = new Set<MessageType>();

  constructor(ids: NodeId[], opts: Partial<RaftConfig> = {}) {
    ids.forEach((id, i) => this.add(newRaft(id, ids, opts, i + 1)));
  }

  add(r: Raft): void {
    this.nodes.set(r.id, r);
    this.applied.set(r.id, []);
    this.readStates.set(r.id, []);
  }

  get(id: NodeId): Raft {
    return this.nodes.get(id)!;
  }

  leader(): Raft | undefined {
    return [...this.nodes.values()].find((r) => r.role === 'leader');
  }

  cut(a: NodeId, b: NodeId): void {
    this.dropped.add(`${a}>${b}`);
    this.dropped.add(`${b}>${a}`);
  }

  isolate(id: NodeId): void {
    for (const o of this.nodes.keys()) if (o !== id) this.cut(id, o);
  }

  ignore(t: MessageType): void {
    this.ignored.add(t);
  }

  recover(): void {
    this.dropped.clear();
    this.ignored.clear();
  }

  /** Delivers messages (and everything they cause) until the network is quiet. */
  send(...msgs: Message[]): void {
    const queue = [...msgs];
    for (const r of this.nodes.values()) queue.push(...this.collect(r));
    while (queue.length > 0) {
      let m = queue.shift()!;
      const r = this.nodes.get(m.to);
      if (!r || this.dropped.has(`${m.from}>${m.to}`) || this.ignored.has(m.type)) continue;
      if (m.type === MessageType.Snap && this.snapshotPath) {
        const arrived = this.snapshotPath(m);
        const sender = this.nodes.get(m.from);
        if (sender) {
          sender.reportSnapshot(m.to, arrived !== undefined);
          queue.push(...this.collect(sender));
        }
        if (!arrived) continue;
        m = arrived;
      }
      this.trace.push(m);
      r.step(m);
      queue.push(...this.collect(r));
    }
  }

  private collect(r: Raft): Message[] {
    const { messages, applied, readStates } = drain(r);
    this.applied.get(r.id)!.push(...applied);
    this.readStates.get(r.id)!.push(...readStates);
    return messages;
  }

  campaign(id: NodeId): void {
    this.get(id).campaign();
    this.send();
  }

  propose(id: NodeId, text: string): void {
    this.get(id).propose([new TextEncoder().encode(text)]);
    this.send();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const r of this.nodes.values()) r.tick();
      this.send();
    }
  }

  appliedText(id: NodeId): string[] {
    return this.applied.get(id)!.map((e) => new TextDecoder().decode(e.data));
  }
}
