// Deterministic simulation of a raft cluster: the real core (src/raft/raft.ts) booted and driven by
// RaftNode's own driver (src/raft/driver.ts), with virtual time, a fake disk that keeps only what was
// synced, a network that drops, delays, duplicates and reorders, partitions, crash/restart and
// per-node clock skew.
// Every choice comes from one seeded PRNG, so a seed replays exactly. Safety invariants are
// checked as the run goes; concurrent KV clients produce a history for the linearizability checker.
import { bootstrapLog } from '../../../src/raft/conf-change.ts';
import { after, bootCore, runReady, unrestoredSnapshot, type ReadyIO } from '../../../src/raft/driver.ts';
import { cloneConf, type Raft, type Ready } from '../../../src/raft/raft.ts';
import { contextKey } from '../../../src/raft/read-only.ts';
import { EntryType, MessageType, type HardState, type LogEntry, type Message, type Snapshot } from '../../../src/raft/types.ts';
import { checkLinearizable, kvModel, type CheckResult, type KvInput, type KvOutput, type Operation } from './linearizability.ts';
import { int, pick, seeded, type Rng } from '../../support/random.ts';

export interface SimOptions {
  seed: number;
  nodes?: number;
  /** Virtual milliseconds of faults and client load before the healing phase. */
  durationMs?: number;
  clients?: number;
  /** Serve reads from the local state machine without ReadIndex (must be caught by the checker). */
  brokenReads?: boolean;
  faults?: boolean;
}

export interface SimResult {
  seed: number;
  ok: boolean;
  error?: string;
  linearizable: CheckResult;
  stats: { events: number; elections: number; commits: number; crashes: number; partitions: number; snapshots: number; ops: number };
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;
const CLIENT_TIMEOUT_MS = 400;
const SNAPSHOT_EVERY = 40;
const KEYS = ['x', 'y', 'z'];

class InvariantError extends Error {}

/**
 * Only what a synced batch wrote survives a crash. A batch the Ready says needs no sync (only the
 * commit index moved) is lost at a crash unless a later synced write carried it to disk (LevelDB's
 * log is one file: a synced write syncs what was written before it).
 */
class FakeDisk {
  hardState: HardState | undefined;
  snapshot: Snapshot | undefined;
  entries: LogEntry[] = [];
  /** A hard state written without sync: lost at a crash. */
  private unsynced: HardState | undefined;

  save(rd: Pick<Ready, 'hardState' | 'entries' | 'snapshot' | 'mustSync'>): void {
    if (!rd.mustSync) {
      if (rd.entries.length > 0 || rd.snapshot) throw new InvariantError('a Ready with entries or a snapshot was not synced');
      if (rd.hardState) this.unsynced = rd.hardState;
      return;
    }
    this.unsynced = undefined;
    if (rd.snapshot) {
      this.snapshot = rd.snapshot;
      this.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      const base = this.snapshot?.meta.index ?? 0;
      this.entries = this.entries.filter((e) => e.index < first && e.index > base).concat(rd.entries.filter((e) => e.index > base));
    }
    if (rd.hardState) this.hardState = rd.hardState;
  }

  crash(): void {
    this.unsynced = undefined;
  }

  saveSnapshot(s: Snapshot): void {
    if (this.unsynced) this.hardState = this.unsynced;
    this.unsynced = undefined;
    this.snapshot = s;
    this.entries = this.entries.filter((e) => e.index > s.meta.index);
  }
}

interface StateMachineState {
  data: Map<string, string>;
  applied: number;
}

interface SimNode {
  id: string;
  core: Raft | null;
  disk: FakeDisk;
  sm: StateMachineState;
  rate: number;
  epoch: number;
  processing: boolean;
  snapshotIndex: number;
  leaderTerms: Set<number>;
}

interface PendingWrite {
  client: number;
  node: string;
  index: number;
  term: number;
  op: Operation<KvInput, KvOutput>;
}

interface PendingRead {
  client: number;
  node: string;
  index: number | null;
  op: Operation<KvInput, KvOutput>;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

class EventQueue {
  private heap: Event[] = [];
  private seq = 0;

  push(at: number, run: () => void): void {
    const h = this.heap;
    h.push({ at, seq: this.seq++, run });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Event | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A step of I/O that finishes in virtual time, or never when its node crashed first: what a Promise
 * is to RaftNode, without a microtask queue, so the driver's steps run inside simulator events.
 */
class VirtualStep implements PromiseLike<unknown> {
  private done = false;
  private readonly waiting: Array<() => void> = [];

  finish(): void {
    this.done = true;
    for (const f of this.waiting.splice(0)) f();
  }

  then<A = unknown, B = never>(onDone?: ((value: unknown) => A | PromiseLike<A>) | null): PromiseLike<A | B> {
    const next = new VirtualStep();
    const run = () => {
      const r = onDone?.(undefined);
      if (r && typeof (r as PromiseLike<A>).then === 'function') (r as PromiseLike<A>).then(() => next.finish());
      else next.finish();
    };
    if (this.done) run();
    else this.waiting.push(run);
    return next as unknown as PromiseLike<A | B>;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Simulation {
  private readonly rng: Rng;
  private readonly queue = new EventQueue();
  private now = 0;
  private readonly nodes = new Map<string, SimNode>();
  private readonly ids: string[];
  /** Partition: node → group number; messages cross groups only when equal. */
  private groups = new Map<string, number>();
  private readonly dropRate: number;
  private readonly dupRate: number;
  private readonly maxDelay: number;
  private faultsOn: boolean;
  private clientsOn = true;
  private readonly leaders = new Map<number, string>();
  /** Every entry any node applied: index → "term/type/data". */
  private readonly committed = new Map<number, string>();
  private readonly history: Operation<KvInput, KvOutput>[] = [];
  private readonly writes: PendingWrite[] = [];
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  private valueSeq = 0;
  private readonly stats = { events: 0, elections: 0, commits: 0, crashes: 0, partitions: 0, snapshots: 0, ops: 0 };

  private readonly opts: SimOptions;
  constructor(opts: SimOptions) {
    this.opts = opts;
    this.rng = seeded(opts.seed);
    const n = opts.nodes ?? (this.rng() < 0.5 ? 3 : 5);
    this.ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    this.dropRate = this.rng() * 0.1;
    this.dupRate = this.rng() * 0.05;
    this.maxDelay = int(this.rng, 1, 10);
    this.faultsOn = opts.faults ?? true;
    for (const id of this.ids) {
      const disk = new FakeDisk();
      disk.save({ ...bootstrapLog(this.ids), mustSync: true });
      const node: SimNode = {
        id,
        core: null,
        disk,
        sm: { data: new Map(), applied: 0 },
        rate: 0.75 + this.rng() * 0.5, // clock-rate skew: ticks run 25% slow to 25% fast
        epoch: 0,
        processing: false,
        snapshotIndex: 0,
        leaderTerms: new Set(),
      };
      this.nodes.set(id, node);
      this.boot(node);
    }
  }

  run(): SimResult {
    const duration = this.opts.durationMs ?? 3000;
    try {
      for (let c = 0; c < (this.opts.clients ?? 3); c++) this.at(int(this.rng, 0, 50), () => this.clientNext(c));
      if (this.faultsOn) this.at(int(this.rng, 50, 300), () => this.fault());
      this.runUntil(duration);
      // Heal: no more faults, everyone up and connected; the cluster must converge.
      this.faultsOn = false;
      this.clientsOn = false;
      this.groups.clear();
      for (const n of this.nodes.values()) if (!n.core) this.boot(n);
      this.runUntil(duration + 3000);
      this.checkLogMatching();
      this.checkConvergence();
      const linearizable = checkLinearizable(kvModel, this.history);
      if (linearizable === 'illegal') throw new InvariantError('history is not linearizable');
      return { seed: this.opts.seed, ok: true, linearizable, stats: this.stats };
    } catch (e) {
      const msg = e instanceof InvariantError ? e.message : String((e as Error)?.stack ?? e);
      return { seed: this.opts.seed, ok: false, error: `${msg} (at t=${this.now.toFixed(2)}ms)`, linearizable: 'unknown', stats: this.stats };
    }
  }

  historyOps(): Operation<KvInput, KvOutput>[] {
    return this.history;
  }

  private runUntil(t: number): void {
    for (;;) {
      const ev = this.queue.pop();
      if (!ev) return;
      if (ev.at > t) {
        this.queue.push(ev.at, ev.run);
        this.now = t;
        return;
      }
      this.now = ev.at;
      ev.run();
      this.stats.events++;
      this.checkElectionSafety();
      if (this.stats.events % 500 === 0) this.checkLogMatching();
    }
  }

  private at(delay: number, run: () => void): void {
    this.queue.push(this.now + delay, run);
  }

  // ---- nodes ---------------------------------------------------------------------------------

  private boot(n: SimNode): void {
    const restore = unrestoredSnapshot(n.disk, n.sm.applied);
    if (restore) this.restoreSm(n, restore);
    n.core = bootCore(n.disk, {
      id: n.id,
      electionTick: ELECTION_TICKS,
      heartbeatTick: 1,
      random: seeded(Math.floor(this.rng() * 2 ** 32)),
      maxMsgEntries: 8,
      maxInflight: 4,
    });
    n.snapshotIndex = n.disk.snapshot?.meta.index ?? 0;
    n.processing = false;
    const epoch = ++n.epoch;
    const tick = () => {
      if (n.epoch !== epoch) return;
      n.core!.tick();
      this.kick(n);
      this.at(TICK_MS / n.rate, tick);
    };
    this.at((TICK_MS / n.rate) * this.rng(), tick);
    this.kick(n);
  }

  private crash(n: SimNode): void {
    if (!n.core) return;
    this.stats.crashes++;
    n.core = null;
    n.epoch++;
    n.disk.crash();
    for (let i = this.writes.length - 1; i >= 0; i--) {
      if (this.writes[i]!.node === n.id) this.finishWriteUnknown(this.writes.splice(i, 1)[0]!);
    }
    for (const [k, r] of this.reads) if (r.node === n.id) this.abandonRead(k, r);
  }

  /** Runs one Ready through the driver a while after there is one; the synced write takes virtual time of its own. */
  private kick(n: SimNode): void {
    if (!n.core || n.processing || !n.core.hasReady()) return;
    n.processing = true;
    const epoch = n.epoch;
    this.at(0.1 + this.rng() * 1.5, () => {
      if (n.epoch !== epoch) return;
      after(runReady(n.core!, this.io(n, epoch)), () => {
        n.processing = false;
        this.kick(n);
      });
    });
  }

  /** The driver's I/O for node `n` in its current life (`epoch`): a crash cuts every step after it. */
  private io(n: SimNode, epoch: number): ReadyIO {
    return {
      persist: (rd) => {
        n.disk.save(rd);
        const synced = new VirtualStep();
        // Crashed after the sync: the messages are never sent.
        this.at(0.05, () => n.epoch === epoch && synced.finish());
        return synced;
      },
      restore: (s) => {
        this.restoreSm(n, s);
        n.snapshotIndex = s.meta.index;
      },
      send: (msgs) => {
        for (const m of msgs) this.send(m);
      },
      readStates: (states) => {
        for (const rs of states) {
          const r = this.reads.get(contextKey(rs.context));
          if (r && r.node === n.id) r.index = rs.index;
        }
      },
      apply: (ents) => {
        for (const e of ents) this.applyEntry(n, e);
      },
      advanced: (rd) => {
        const core = n.core!;
        this.completeReads(n);
        if (core.log.applied - n.snapshotIndex >= SNAPSHOT_EVERY) {
          const applied = core.log.applied;
          const snap: Snapshot = {
            meta: { index: applied, term: core.log.term(applied)!, conf: cloneConf(core.conf) },
            data: enc.encode(JSON.stringify([...n.sm.data])),
          };
          n.disk.saveSnapshot(snap);
          core.compact(snap, int(this.rng, 0, 10));
          n.snapshotIndex = applied;
          this.stats.snapshots++;
        }
        if (rd.softState?.role === 'leader') this.checkLeaderCompleteness(n);
      },
    };
  }

  private restoreSm(n: SimNode, s: Snapshot): void {
    n.sm.data = new Map(JSON.parse(dec.decode(s.data)) as Array<[string, string]>);
    n.sm.applied = s.meta.index;
    for (let i = this.writes.length - 1; i >= 0; i--) {
      const w = this.writes[i]!;
      if (w.node === n.id && w.index <= s.meta.index) this.finishWriteUnknown(this.writes.splice(i, 1)[0]!);
    }
  }

  private applyEntry(n: SimNode, e: LogEntry): void {
    const fp = `${e.term}/${e.type}/${dec.decode(e.data)}`;
    const seen = this.committed.get(e.index);
    if (seen === undefined) {
      this.committed.set(e.index, fp);
      this.stats.commits++;
    } else if (seen !== fp) {
      throw new InvariantError(`state machine safety: ${n.id} applied ${fp} at ${e.index}, another node applied ${seen}`);
    }
    if (e.type === EntryType.Normal && e.data.length > 0 && e.index > n.sm.applied) {
      const cmd = JSON.parse(dec.decode(e.data)) as { key: string; value: string };
      n.sm.data.set(cmd.key, cmd.value);
      n.sm.applied = e.index;
    }
    for (let i = this.writes.length - 1; i >= 0; i--) {
      const w = this.writes[i]!;
      if (w.node !== n.id || w.index !== e.index) continue;
      this.writes.splice(i, 1);
      if (w.term === e.term) {
        w.op.ret = this.now;
        this.history.push(w.op);
      }
      // A different term at that index: our entry was overwritten, it never took effect.
      this.clientDone(w.client);
    }
  }

  // ---- network -------------------------------------------------------------------------------

  private send(m: Message): void {
    if (m.type === MessageType.Snap) return this.sendSnapshot(m);
    if (this.rng() < this.dropRate) return;
    const copies = this.rng() < this.dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.at(0.2 + this.rng() * this.maxDelay, () => this.deliver(m));
    }
  }

  /** Like the peer transport: the sender learns whether the (chunked) snapshot arrived. */
  private sendSnapshot(m: Message): void {
    this.at(1 + this.rng() * this.maxDelay * 3, () => {
      const delivered = this.rng() >= this.dropRate && this.connected(m.from, m.to) && !!this.nodes.get(m.to)?.core;
      if (delivered) this.deliver(m);
      const sender = this.nodes.get(m.from)!;
      if (!sender.core) return;
      sender.core.reportSnapshot(m.to, delivered);
      this.kick(sender);
    });
  }

  private connected(a: string, b: string): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to);
    if (!n?.core) return;
    if (!this.connected(m.from, m.to)) return;
    if (!n.core.step(m)) throw new InvariantError(`a ${m.type} message (local-only) crossed the network`);
    this.kick(n);
  }

  // ---- faults --------------------------------------------------------------------------------

  private fault(): void {
    if (!this.faultsOn) return;
    const r = this.rng();
    const nodes = [...this.nodes.values()];
    if (r < 0.3) {
      // partition into two random groups, healed later
      this.stats.partitions++;
      this.groups = new Map(this.ids.map((id) => [id, this.rng() < 0.5 ? 1 : 0]));
      this.at(int(this.rng, 100, 600), () => (this.groups = new Map()));
    } else if (r < 0.6) {
      const victim = pick(this.rng, nodes);
      this.crash(victim);
      this.at(int(this.rng, 20, 500), () => {
        if (!victim.core) this.boot(victim);
      });
    } else if (r < 0.75) {
      const leader = nodes.find((x) => x.core?.role === 'leader');
      if (leader) leader.core!.transferLeadership(pick(this.rng, this.ids.filter((id) => id !== leader.id)));
      if (leader) this.kick(leader);
    } else if (r < 0.85) {
      // isolate the leader (the others must elect; check-quorum makes it step down)
      const leader = nodes.find((x) => x.core?.role === 'leader');
      if (leader) {
        this.stats.partitions++;
        this.groups = new Map([[leader.id, 1]]);
        this.at(int(this.rng, 100, 600), () => (this.groups = new Map()));
      }
    }
    this.at(int(this.rng, 50, 300), () => this.fault());
  }

  // ---- clients -------------------------------------------------------------------------------

  private clientNext(client: number): void {
    if (!this.clientsOn) return;
    const key = pick(this.rng, KEYS);
    const up = [...this.nodes.values()].filter((n) => n.core);
    if (up.length === 0) return this.clientRetry(client);
    let target = pick(this.rng, up);
    if (this.rng() < 0.5) {
      const write: Operation<KvInput, KvOutput> = {
        client,
        input: { type: 'put', key, value: `v${++this.valueSeq}` },
        output: { value: null },
        call: this.now,
        ret: Infinity,
      };
      const lead = target.core!.lead ? this.nodes.get(target.core!.lead) : undefined;
      if (target.core!.role !== 'leader' && lead?.core) target = lead;
      if (target.core!.role !== 'leader') return this.clientRetry(client);
      const data = enc.encode(JSON.stringify({ key, value: (write.input as { value: string }).value }));
      let pos;
      try {
        pos = target.core!.propose([data]);
      } catch {
        return this.clientRetry(client);
      }
      this.kick(target);
      const w: PendingWrite = { client, node: target.id, index: pos.index, term: pos.term, op: write };
      this.writes.push(w);
      this.stats.ops++;
      this.at(CLIENT_TIMEOUT_MS, () => {
        const i = this.writes.indexOf(w);
        if (i >= 0) this.finishWriteUnknown(this.writes.splice(i, 1)[0]!);
      });
      return;
    }
    const read: Operation<KvInput, KvOutput> = { client, input: { type: 'get', key }, output: { value: null }, call: this.now, ret: Infinity };
    if (this.opts.brokenReads) {
      // The deliberate bug: answer from local state, no ReadIndex.
      read.output = { value: target.sm.data.get(key) ?? null };
      read.ret = this.now;
      this.history.push(read);
      this.stats.ops++;
      return this.clientDone(client);
    }
    const ctxText = `r${++this.readSeq}`;
    try {
      target.core!.readIndex(enc.encode(ctxText));
    } catch {
      return this.clientRetry(client);
    }
    this.kick(target);
    const r: PendingRead = { client, node: target.id, index: null, op: read };
    const key2 = contextKey(enc.encode(ctxText));
    this.reads.set(key2, r);
    this.at(CLIENT_TIMEOUT_MS, () => {
      if (this.reads.get(key2) === r) this.abandonRead(key2, r);
    });
  }

  private completeReads(n: SimNode): void {
    for (const [k, r] of this.reads) {
      if (r.node !== n.id || r.index === null || r.index > n.core!.log.applied) continue;
      this.reads.delete(k);
      r.op.output = { value: n.sm.data.get(r.op.input.key) ?? null };
      r.op.ret = this.now;
      this.history.push(r.op);
      this.stats.ops++;
      this.clientDone(r.client);
    }
  }

  private abandonRead(key: string, r: PendingRead): void {
    this.reads.delete(key); // a read that never answered has no effect: leave it out
    this.clientDone(r.client);
  }

  private finishWriteUnknown(w: PendingWrite): void {
    this.history.push(w.op); // ret stays Infinity: it may or may not have taken effect
    this.clientDone(w.client);
  }

  private clientDone(client: number): void {
    this.at(this.rng() * 20, () => this.clientNext(client));
  }

  private clientRetry(client: number): void {
    this.at(5 + this.rng() * 20, () => this.clientNext(client));
  }

  // ---- invariants ----------------------------------------------------------------------------

  private checkElectionSafety(): void {
    for (const n of this.nodes.values()) {
      if (n.core?.role !== 'leader') continue;
      const t = n.core.term;
      const prev = this.leaders.get(t);
      if (prev === undefined) {
        this.leaders.set(t, n.id);
        this.stats.elections++;
      } else if (prev !== n.id) {
        throw new InvariantError(`election safety: ${prev} and ${n.id} both lead term ${t}`);
      }
    }
  }

  /** Every entry known applied must be in a new leader's log (§5.4). */
  private checkLeaderCompleteness(n: SimNode): void {
    const log = n.core!.log;
    if (n.leaderTerms.has(n.core!.term)) return;
    n.leaderTerms.add(n.core!.term);
    for (const [index, fp] of this.committed) {
      if (index < log.firstIndex()) continue; // inside its snapshot
      const t = log.term(index);
      if (t === undefined || fp.split('/')[0] !== String(t)) {
        throw new InvariantError(`leader completeness: leader ${n.id} (term ${n.core!.term}) lacks committed entry ${index} (${fp})`);
      }
    }
  }

  /** §5.3: same index and term ⇒ identical logs up to there. */
  private checkLogMatching(): void {
    const up = [...this.nodes.values()].filter((n) => n.core);
    for (let i = 0; i < up.length; i++) {
      for (let j = i + 1; j < up.length; j++) {
        const a = up[i]!.core!.log;
        const b = up[j]!.core!.log;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        let hi = Math.min(a.lastIndex(), b.lastIndex());
        while (hi >= lo && a.term(hi) !== b.term(hi)) hi--;
        if (hi < lo) continue;
        const ea = a.slice(lo, hi + 1);
        const eb = b.slice(lo, hi + 1);
        for (let k = 0; k < ea.length; k++) {
          const x = ea[k]!;
          const y = eb[k]!;
          if (x.term !== y.term || x.type !== y.type || dec.decode(x.data) !== dec.decode(y.data)) {
            throw new InvariantError(`log matching: ${up[i]!.id} and ${up[j]!.id} differ at ${x.index} below matching entry ${hi}`);
          }
        }
      }
    }
  }

  private checkConvergence(): void {
    const nodes = [...this.nodes.values()];
    const leader = nodes.find((n) => n.core?.role === 'leader');
    if (!leader) throw new InvariantError('liveness: no leader after healing');
    const commit = leader.core!.log.committed;
    for (const n of nodes) {
      if (n.core!.log.applied < commit) throw new InvariantError(`liveness: ${n.id} applied ${n.core!.log.applied} < leader commit ${commit}`);
      const a = JSON.stringify([...n.sm.data].sort());
      const b = JSON.stringify([...leader.sm.data].sort());
      if (a !== b) throw new InvariantError(`state machines diverged: ${n.id} ${a} vs ${leader.id} ${b}`);
    }
  }
}

export function runSeed(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
