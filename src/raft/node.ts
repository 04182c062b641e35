// RaftNode: the driver around the pure core. It owns the timers, the LevelDB log, the HTTP
// transport and the state machine, and runs the Ready loop: persist (one synced batch) → send →
// apply → advance. Proposals queued while a Ready is in flight join the next batch, so many
// proposals cost one fsync and one AppendEntries per follower.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { bootstrapLog, encodeConfChange } from './conf-change.ts';
import { LearnerSilentError, NotLeaderError, ProposalDroppedError, RaftStoppedError, RaftTimeoutError } from './errors.ts';
import { MemoryStorage } from './memory-storage.ts';
import { Raft, cloneConf, type Ready } from './raft.ts';
import { contextKey } from './read-only.ts';
import { RaftStorage } from './storage.ts';
import { PeerTransport } from './transport.ts';
import { EntryType, type ConfChange, type Entry, type LogEntry, type Message, type NodeId, type Role, type Snapshot } from './types.ts';

export interface StateMachine {
  /** Deterministic; persists effects and the applied index atomically; one result per entry. */
  apply(entries: readonly Entry[]): Promise<unknown[]>;
  appliedIndex(): number;
  snapshot(): Promise<{ index: number; term: number; data: Uint8Array }>;
  restore(s: { index: number; term: number; data: Uint8Array }): Promise<void>;
}

export interface RaftNodeOptions {
  id: NodeId;
  /** Base URLs of the cluster's members (may include this node). Empty: a cluster of one. */
  peers: Record<NodeId, string>;
  /** This node's own base URL (used when it is announced to others; optional). */
  url?: string;
  dataDir: string;
  /** Shared cluster secret authenticating node-to-node RPC. */
  secret: string;
  stateMachine: StateMachine;
  /** Start with an empty membership and wait to be added (addLearner) by the running cluster. */
  join?: boolean;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  /** Take a state-machine snapshot and compact the log every this many applied entries. */
  snapshotEvery?: number;
  /** Entries kept behind a snapshot so slightly lagging followers need no InstallSnapshot. */
  keepEntries?: number;
  proposalTimeoutMs?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  leaseRead?: boolean;
  /** Seeded randomness for election jitter (defaults to crypto-random). */
  random?: () => number;
  onError?: (err: unknown) => void;
  observer?: RaftObserver;
}

/** What the node's operator watches (metrics, request ids); every hook is optional and cheap. */
export interface RaftObserver {
  /** Headers for a call to the leader made on behalf of the current request (its `X-Request-Id`). */
  outgoingHeaders?(): Record<string, string>;
  /** Runs a call from a peer (`op`: propose, conf, transfer) in the context its headers carry (the request id it was made for). */
  servingCall?<T>(op: string, headers: Record<string, string>, serve: () => Promise<T>): Promise<T>;
  /** A proposal ended: committed and applied here (ok), or failed. */
  proposed?(seconds: number, ok: boolean): void;
  snapshot?(kind: 'taken' | 'installed', bytes: number): void;
  /** A peer would not open a Raft stream with this node (told on every refused attempt). */
  peerRefused?(peer: NodeId, reason: string): void;
}

export interface ProposeOptions {
  timeoutMs?: number;
}

export interface PeerInfo {
  url: string | null;
  voter: boolean;
  learner: boolean;
  /** Leader-side replication state; null on followers. */
  match: number | null;
  next: number | null;
  lastContactMs: number | null;
}

export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: number;
  leader: { id: NodeId; url: string | null } | null;
  commit: number;
  applied: number;
  lastIndex: number;
  snapshotIndex: number;
  voters: NodeId[];
  learners: NodeId[];
  peers: Record<NodeId, PeerInfo>;
}

interface Waiter {
  term: number;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface ReadWaiter {
  index: number | null;
  resolve(): void;
  reject(e: unknown): void;
}

interface QueuedProposal {
  data: Uint8Array;
  conf?: ConfChange;
  resolve(pos: { index: number; term: number }): void;
  reject(e: unknown): void;
}

const RESULT_CACHE = 4096;
const MAX_FORWARD_HOPS = 3;
// A live learner answers every heartbeat; this many election timeouts of silence means it is not there.
const LEARNER_SILENCE_ELECTIONS = 10;

export class RaftNode {
  private readonly core: Raft;
  private readonly transport: PeerTransport;
  private readonly waiters = new Map<number, Waiter>();
  /** Recent apply results, for forwarded proposals whose answer arrives after the local apply. */
  private readonly results = new Map<number, { term: number; result: unknown }>();
  private readonly reads = new Map<string, ReadWaiter>();
  private queue: QueuedProposal[] = [];
  private running = false;
  private stopped = false;
  private loopDone: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readSeq = 0;
  private readonly readPrefix = randomBytes(6).toString('hex');
  private snapshotIndex: number;
  private smApplied: number;
  private readonly tickMs: number;
  private readonly electionMs: number;
  private readonly snapshotEvery: number;
  private readonly keepEntries: number;
  private readonly proposalTimeoutMs: number;

  private readonly opts: RaftNodeOptions;
  private readonly storage: RaftStorage;
  private constructor(
    opts: RaftNodeOptions,
    storage: RaftStorage,
    core: Raft,
    snapshotIndex: number,
  ) {
    this.opts = opts;
    this.storage = storage;
    this.core = core;
    this.snapshotIndex = snapshotIndex;
    this.smApplied = opts.stateMachine.appliedIndex();
    this.tickMs = opts.tickMs ?? 50;
    this.electionMs = this.tickMs * (opts.electionTicks ?? 10);
    this.snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.keepEntries = opts.keepEntries ?? 1_000;
    this.proposalTimeoutMs = opts.proposalTimeoutMs ?? 10_000;
    this.transport = new PeerTransport(opts.id, opts.secret, (id) => this.urlOf(id), {
      onMessages: (msgs) => this.receive(msgs),
      onCall: (op, body, meta) => {
        const serve = () => this.serveCall(op, body);
        return this.opts.observer?.servingCall ? this.opts.observer.servingCall(op, meta, serve) : serve();
      },
      onUnreachable: (peer, snapshot) => {
        if (this.stopped) return;
        if (snapshot) this.core.reportSnapshot(peer, false);
        else this.core.reportUnreachable(peer);
        this.kick();
      },
      onSnapshotSent: (peer) => {
        if (this.stopped) return;
        this.core.reportSnapshot(peer, true);
        this.kick();
      },
      onRefused: (peer, reason) => this.opts.observer?.peerRefused?.(peer, reason),
    });
  }

  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const storage = await RaftStorage.open(opts.dataDir);
    try {
      let state = await storage.load();
      if (!state.hardState && !state.snapshot && state.entries.length === 0 && !opts.join) {
        // Fresh data dir: write the same bootstrap membership every initial member writes.
        const boot = bootstrapLog([opts.id, ...Object.keys(opts.peers)]);
        await storage.save(boot);
        state = await storage.load();
      }
      const mem = new MemoryStorage({ voters: [], learners: [], addrs: {} }, state.snapshot);
      mem.append(state.entries);
      const sm = opts.stateMachine;
      // A snapshot installed in raft's log but not yet restored into the state machine (crash in between).
      if (state.snapshot && sm.appliedIndex() < state.snapshot.meta.index) {
        const s = state.snapshot;
        await sm.restore({ index: s.meta.index, term: s.meta.term, data: s.data });
      }
      const core = new Raft({
        id: opts.id,
        storage: mem,
        ...(state.hardState ? { hardState: state.hardState } : {}),
        electionTick: opts.electionTicks ?? 10,
        heartbeatTick: opts.heartbeatTicks ?? 1,
        random: opts.random ?? (() => randomBytes(4).readUInt32BE() / 2 ** 32),
        preVote: opts.preVote ?? true,
        checkQuorum: opts.checkQuorum ?? true,
        leaseRead: opts.leaseRead ?? false,
      });
      const node = new RaftNode(opts, storage, core, state.snapshot?.meta.index ?? 0);
      await node.catchUp();
      node.timer = setInterval(() => node.onTick(), node.tickMs);
      return node;
    } catch (e) {
      await storage.close();
      throw e;
    }
  }

  /** Re-applies committed entries after the state machine's applied index; a lone voter elects itself at once. */
  private async catchUp(): Promise<void> {
    this.kick();
    await this.loopDone;
    if (this.core.conf.voters.length === 1 && this.core.isVoter() && this.core.role !== 'leader') {
      this.core.campaign();
      this.kick();
      await this.loopDone;
    }
  }

  // ---- public API ----------------------------------------------------------------------------

  /** Replicates `data`; resolves with the local apply result once committed and applied here. */
  async propose(data: Uint8Array, opts: ProposeOptions = {}): Promise<unknown> {
    const observe = this.opts.observer?.proposed;
    if (!observe) return this.submit(data, undefined, opts.timeoutMs ?? this.proposalTimeoutMs);
    const t0 = performance.now();
    let ok = false;
    try {
      const result = await this.submit(data, undefined, opts.timeoutMs ?? this.proposalTimeoutMs);
      ok = true;
      return result;
    } finally {
      observe((performance.now() - t0) / 1000, ok);
    }
  }

  /**
   * Linearizable barrier: resolves once this node has applied everything committed before the call.
   * With `lease`, the leader vouches for its commit index without a heartbeat round (see Raft.readIndex).
   */
  async readIndex(opts: ProposeOptions & { lease?: boolean } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? this.proposalTimeoutMs);
    for (;;) {
      this.assertRunning();
      const attemptMs = Math.min(this.electionMs * 2, deadline - Date.now());
      if (attemptMs <= 0) throw new RaftTimeoutError('readIndex', opts.timeoutMs ?? this.proposalTimeoutMs);
      await this.leaderKnown(attemptMs);
      try {
        return await this.readOnce(attemptMs, opts.lease ?? false);
      } catch (e) {
        // A lost request or a leader change: ask again (reads are idempotent) until the deadline.
        if (!(e instanceof RaftTimeoutError)) throw e;
      }
    }
  }

  async addLearner(id: NodeId, url: string, opts: ProposeOptions = {}): Promise<void> {
    await this.changeMembership({ type: 'addLearner', id, addr: url }, opts);
  }

  /** Promotes a learner to voter once it has caught up with the leader's log. */
  async promote(id: NodeId, opts: ProposeOptions = {}): Promise<void> {
    await this.changeMembership({ type: 'promote', id }, opts);
  }

  async removeMember(id: NodeId, opts: ProposeOptions = {}): Promise<void> {
    await this.changeMembership({ type: 'remove', id }, opts);
  }

  /** Hands leadership to `to` (default: the most caught-up other voter); resolves when it leads. */
  async transferLeadership(to?: NodeId, opts: ProposeOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.proposalTimeoutMs;
    if (this.core.role !== 'leader') {
      const body = new TextEncoder().encode(JSON.stringify({ to: to ?? null }));
      await this.forward('transfer', body, timeoutMs);
      return;
    }
    const target = to ?? this.bestTransferee();
    if (!target) throw new ProposalDroppedError('no other voter to transfer leadership to');
    if (!this.core.isVoter(target)) throw new ProposalDroppedError(`${target} is not a voter`);
    await this.until(
      () => {
        // The core abandons a transfer that takes longer than an election timeout: ask again.
        if (this.core.role === 'leader' && this.core.leadTransferee === null) {
          this.core.transferLeadership(target);
          this.kick();
        }
        return this.core.lead === target;
      },
      timeoutMs,
      'leadership transfer',
    );
  }

  status(): RaftStatus {
    const c = this.core;
    const prs = c.role === 'leader' ? c.progress() : {};
    const peers: Record<NodeId, PeerInfo> = {};
    for (const id of [...c.conf.voters, ...c.conf.learners]) {
      const pr = prs[id];
      peers[id] = {
        url: this.urlOf(id) ?? null,
        voter: c.conf.voters.includes(id),
        learner: c.conf.learners.includes(id),
        match: pr ? pr.match : null,
        next: pr ? pr.next : null,
        lastContactMs: pr ? pr.ticksSinceContact * this.tickMs : null,
      };
    }
    return {
      id: this.opts.id,
      role: c.role,
      term: c.term,
      leader: c.lead ? { id: c.lead, url: this.urlOf(c.lead) ?? null } : null,
      commit: c.log.committed,
      applied: c.log.applied,
      lastIndex: c.log.lastIndex(),
      snapshotIndex: this.snapshotIndex,
      voters: [...c.conf.voters],
      learners: [...c.conf.learners],
      peers,
    };
  }

  /** Takes an HTTP upgrade to `/raft/stream` (the `upgrade` event of this node's own HTTP server). */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.transport.accept(req, socket, head);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const err = new RaftStoppedError();
    for (const q of this.queue) q.reject(err);
    this.queue = [];
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
    await this.loopDone;
    this.transport.close();
    await this.storage.close();
  }

  // ---- proposals -----------------------------------------------------------------------------

  /** During an election no leader is known for a moment: wait up to two election timeouts for one. */
  private async leaderKnown(timeoutMs: number): Promise<void> {
    if (this.core.lead !== null) return;
    try {
      await this.until(() => this.core.lead !== null, Math.min(timeoutMs, 2 * this.electionMs), 'leader');
    } catch (e) {
      if (e instanceof RaftTimeoutError) throw new NotLeaderError(null, null);
      throw e;
    }
  }

  private async submit(data: Uint8Array, conf: ConfChange | undefined, timeoutMs: number): Promise<unknown> {
    this.assertRunning();
    await this.leaderKnown(timeoutMs);
    if (this.core.role === 'leader') {
      const pos = await new Promise<{ index: number; term: number }>((resolve, reject) => {
        this.queue.push({ data, ...(conf ? { conf } : {}), resolve, reject });
        this.kick();
      });
      return this.awaitApply(pos.index, pos.term, timeoutMs);
    }
    const op = conf ? 'conf' : 'propose';
    const body = conf ? new TextEncoder().encode(JSON.stringify(conf)) : data;
    const pos = (await this.forward(op, body, timeoutMs)) as { index: number; term: number };
    return this.awaitApply(pos.index, pos.term, timeoutMs);
  }

  /** Resolves with the local apply result of the entry appended at (index, term). */
  private awaitApply(index: number, term: number, timeoutMs: number): Promise<unknown> {
    if (index <= this.core.log.applied) {
      const r = this.results.get(index);
      if (r) {
        if (r.term === term) return Promise.resolve(r.result);
        return Promise.reject(new ProposalDroppedError(`entry ${index} was overwritten by a new leader`));
      }
      return Promise.reject(new RaftTimeoutError(`result of entry ${index} (already applied and forgotten)`, 0));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(index);
        reject(new RaftTimeoutError('proposal', timeoutMs));
      }, timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        f();
      };
      this.waiters.get(index)?.reject(new ProposalDroppedError(`entry ${index} was overwritten by a new leader`));
      this.waiters.set(index, {
        term,
        resolve: (v) => done(() => resolve(v)),
        reject: (e) => done(() => reject(e)),
      });
    });
  }

  /** Sends a request to the leader, following redirects a few hops. Returns the leader's JSON answer. */
  private async forward(op: string, body: Uint8Array, timeoutMs: number): Promise<unknown> {
    let target = this.core.lead;
    for (let hop = 0; hop < MAX_FORWARD_HOPS; hop++) {
      if (!target || target === this.opts.id) throw new NotLeaderError(null, null);
      let res: { status: number; json: unknown };
      try {
        res = await this.transport.call(target, op, body, timeoutMs, this.opts.observer?.outgoingHeaders?.());
      } catch (e) {
        throw new NotLeaderError(target, this.urlOf(target) ?? null, { cause: e });
      }
      const j = res.json as { leaderId?: string | null; error?: string; reason?: string; learner?: string; silentMs?: number } | null;
      if (res.status === 200) return res.json;
      if (res.status === 421) {
        target = j?.leaderId ?? null;
        continue;
      }
      if (res.status === 409 && j?.error === 'learner_silent') throw new LearnerSilentError(j.learner ?? '?', j.silentMs ?? 0);
      if (res.status === 409) throw new ProposalDroppedError(j?.reason ?? 'rejected by leader');
      if (res.status === 503) throw new NotLeaderError(null, null);
      if (res.status === 504) throw new RaftTimeoutError(`${op} on leader`, timeoutMs);
      throw new Error(`raft ${op} on ${target}: HTTP ${res.status} ${JSON.stringify(j)}`);
    }
    throw new NotLeaderError(target, target ? (this.urlOf(target) ?? null) : null);
  }

  private async changeMembership(cc: ConfChange, opts: ProposeOptions): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.proposalTimeoutMs;
    if (cc.type === 'promote' && this.core.role === 'leader') await this.learnerCaughtUp(cc.id, timeoutMs);
    await this.submit(encodeConfChange(cc), cc, timeoutMs);
  }

  private bestTransferee(): NodeId | undefined {
    const prs = this.core.progress();
    return this.core.conf.voters
      .filter((id) => id !== this.opts.id)
      .sort((a, b) => (prs[b]?.match ?? 0) - (prs[a]?.match ?? 0))[0];
  }

  // ---- reads ---------------------------------------------------------------------------------

  /**
   * Resolves once this node has applied every entry it knows to be committed, without a message to
   * anyone: not linearizable (the leader may have committed more), for callers that check again when
   * they write. During an election it waits for a leader as a proposal does; a node that finds none
   * refuses rather than serve what may be stale.
   */
  async localRead(opts: ProposeOptions = {}): Promise<void> {
    this.assertRunning();
    const timeoutMs = opts.timeoutMs ?? this.proposalTimeoutMs;
    await this.leaderKnown(timeoutMs);
    const index = this.core.log.committed;
    if (this.core.log.applied >= index) return;
    return this.awaitRead(`local:${++this.readSeq}`, index, timeoutMs, 'local read');
  }

  private readOnce(timeoutMs: number, lease: boolean): Promise<void> {
    const ctx = new TextEncoder().encode(`${this.readPrefix}:${++this.readSeq}`);
    const key = contextKey(ctx);
    const read = this.awaitRead(key, null, timeoutMs, 'readIndex');
    try {
      this.core.readIndex(ctx, lease);
    } catch (e) {
      this.reads.get(key)?.reject(e instanceof NotLeaderError ? new NotLeaderError(null, null) : e);
      this.reads.delete(key);
      return read;
    }
    this.kick();
    return read;
  }

  /** A read released once `index` is applied (`null`: until the leader names it); rejected after `timeoutMs`. */
  private awaitRead(key: string, index: number | null, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.reads.delete(key);
        reject(new RaftTimeoutError(what, timeoutMs));
      }, timeoutMs);
      const settle = (f: () => void) => {
        clearTimeout(timer);
        f();
      };
      this.reads.set(key, { index, resolve: () => settle(resolve), reject: (e) => settle(() => reject(e)) });
    });
  }

  // ---- the Ready loop ------------------------------------------------------------------------

  private onTick(): void {
    if (this.stopped) return;
    this.core.tick();
    this.kick();
  }

  private receive(msgs: Message[]): void {
    if (this.stopped) return;
    for (const m of msgs) {
      if (m.to !== this.opts.id) continue;
      this.core.step(m);
    }
    this.kick();
  }

  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.loopDone = new Promise<void>((resolve) => {
      // setImmediate lets proposals made in the same turn join one batch.
      setImmediate(() => {
        this.loop()
          .catch((e: unknown) => this.fail(e))
          .finally(() => {
            this.running = false;
            resolve();
            // Work that arrived between the loop's last check and now would otherwise wait for a tick.
            if (this.queue.length > 0 || this.core.hasReady()) this.kick();
          });
      });
    });
  }

  private flushProposals(): void {
    if (this.queue.length === 0) return;
    const queued = this.queue;
    this.queue = [];
    if (this.core.role !== 'leader') {
      const err = new NotLeaderError(this.core.lead, this.core.lead ? (this.urlOf(this.core.lead) ?? null) : null);
      for (const q of queued) q.reject(err);
      return;
    }
    // Normal commands go in one append; each conf change alone (the core allows one at a time).
    let i = 0;
    while (i < queued.length) {
      const q = queued[i]!;
      try {
        if (q.conf) {
          q.resolve(this.core.proposeConfChange(q.conf, q.data));
          i++;
          continue;
        }
        let j = i;
        while (j < queued.length && !queued[j]!.conf) j++;
        const group = queued.slice(i, j);
        const pos = this.core.propose(group.map((g) => g.data));
        group.forEach((g, k) => g.resolve({ index: pos.index + k, term: pos.term }));
        i = j;
      } catch (e) {
        q.reject(e);
        i++;
      }
    }
  }

  private async loop(): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      this.flushProposals();
      if (!this.core.hasReady()) return;
      const rd = this.core.ready();
      await this.storage.save(rd);
      if (rd.snapshot) await this.installSnapshot(rd.snapshot);
      this.transport.send(rd.messages);
      for (const rs of rd.readStates) {
        const w = this.reads.get(contextKey(rs.context));
        if (w) w.index = rs.index;
      }
      await this.apply(rd);
      this.core.advance(rd);
      this.releaseReads();
      await this.maybeSnapshot();
    }
  }

  private async installSnapshot(s: Snapshot): Promise<void> {
    await this.opts.stateMachine.restore({ index: s.meta.index, term: s.meta.term, data: s.data });
    this.smApplied = s.meta.index;
    this.snapshotIndex = s.meta.index;
    this.opts.observer?.snapshot?.('installed', s.data.length);
    for (const [index, w] of this.waiters) {
      // Entries covered by a snapshot were applied elsewhere; their results are not known here.
      if (index <= s.meta.index) {
        w.reject(new RaftTimeoutError(`result of entry ${index} (superseded by a snapshot)`, 0));
        this.waiters.delete(index);
      }
    }
  }

  private async apply(rd: Ready): Promise<void> {
    const ents = rd.committedEntries;
    if (ents.length === 0) return;
    // Only the product's own commands reach the state machine; entries it already applied before
    // a restart are skipped (its applied index is persisted atomically with its effects).
    const commands = ents.filter((e) => e.type === EntryType.Normal && e.data.length > 0 && e.index > this.smApplied);
    let results: unknown[] = [];
    if (commands.length > 0) {
      results = await this.opts.stateMachine.apply(commands.map((e) => ({ index: e.index, term: e.term, data: e.data })));
      this.smApplied = commands[commands.length - 1]!.index;
    }
    let k = 0;
    for (const e of ents) {
      const result = commands[k] === e ? results[k++] : undefined;
      this.remember(e, result);
      const w = this.waiters.get(e.index);
      if (!w) continue;
      this.waiters.delete(e.index);
      if (w.term === e.term) w.resolve(result);
      else w.reject(new ProposalDroppedError(`entry ${e.index} was overwritten by a new leader`));
    }
  }

  private remember(e: LogEntry, result: unknown): void {
    this.results.set(e.index, { term: e.term, result });
    if (this.results.size > RESULT_CACHE) this.results.delete(this.results.keys().next().value!);
  }

  private releaseReads(): void {
    const applied = this.core.log.applied;
    for (const [key, r] of this.reads) {
      if (r.index !== null && r.index <= applied) {
        this.reads.delete(key);
        r.resolve();
      }
    }
  }

  private async maybeSnapshot(): Promise<void> {
    const applied = this.core.log.applied;
    if (applied - this.snapshotIndex < this.snapshotEvery) return;
    const s = await this.opts.stateMachine.snapshot();
    // The state machine's state at its own applied index equals the state at raft's applied index
    // (only no-op and membership entries lie in between), so the snapshot is taken at the latter,
    // with the membership as of that index.
    const snap: Snapshot = { meta: { index: applied, term: this.core.log.term(applied)!, conf: cloneConf(this.core.conf) }, data: s.data };
    const compactTo = Math.max(0, applied - this.keepEntries);
    await this.storage.saveSnapshot(snap, compactTo);
    this.core.compact(snap, this.keepEntries);
    this.snapshotIndex = applied;
    this.opts.observer?.snapshot?.('taken', s.data.length);
  }

  private fail(e: unknown): void {
    // A storage failure leaves us unable to promise durability: stop serving.
    this.opts.onError?.(e);
    void this.stop();
  }

  // ---- RPC from peers ------------------------------------------------------------------------

  private async serveCall(op: string, body: Uint8Array): Promise<{ status: number; json: unknown }> {
    if (this.stopped) return { status: 503, json: { error: 'stopped' } };
    if (this.core.role !== 'leader') return { status: 421, json: { error: 'not_leader', leaderId: this.core.lead } };
    try {
      if (op === 'propose' || op === 'conf') {
        const conf = op === 'conf' ? (JSON.parse(new TextDecoder().decode(body)) as ConfChange) : undefined;
        if (conf?.type === 'promote') await this.learnerCaughtUp(conf.id, this.proposalTimeoutMs);
        const data = conf ? encodeConfChange(conf) : body;
        const pos = await new Promise<{ index: number; term: number }>((resolve, reject) => {
          this.queue.push({ data, ...(conf ? { conf } : {}), resolve, reject });
          this.kick();
        });
        return { status: 200, json: pos };
      }
      if (op === 'transfer') {
        const { to } = JSON.parse(new TextDecoder().decode(body)) as { to: NodeId | null };
        await this.transferLeadership(to ?? undefined);
        return { status: 200, json: {} };
      }
      return { status: 404, json: { error: `unknown op ${op}` } };
    } catch (e) {
      if (e instanceof NotLeaderError) return { status: 421, json: { error: 'not_leader', leaderId: this.core.lead } };
      if (e instanceof ProposalDroppedError) return { status: 409, json: { error: 'dropped', reason: e.reason } };
      if (e instanceof LearnerSilentError) return { status: 409, json: { error: 'learner_silent', learner: e.learner, silentMs: e.silentMs } };
      if (e instanceof RaftTimeoutError) return { status: 504, json: { error: 'timeout' } };
      throw e;
    }
  }

  /**
   * A learner that lags would make the new quorum wait for it: promote only once it caught up. One
   * that never answers (not started, wrong address or secret) fails fast rather than at the timeout.
   */
  private learnerCaughtUp(id: NodeId, timeoutMs: number): Promise<void> {
    const silenceTicks = LEARNER_SILENCE_ELECTIONS * (this.electionMs / this.tickMs);
    return this.until(
      () => {
        const pr = this.core.progress()[id];
        if (pr !== undefined && pr.ticksSinceContact > silenceTicks) throw new LearnerSilentError(id, pr.ticksSinceContact * this.tickMs);
        return pr !== undefined && pr.match >= this.core.log.committed;
      },
      timeoutMs,
      `catch-up of learner ${id}`,
    );
  }

  // ---- helpers -------------------------------------------------------------------------------

  private urlOf(id: NodeId): string | undefined {
    if (id === this.opts.id && this.opts.url) return this.opts.url;
    return this.core.conf.addrs[id] ?? this.opts.peers[id];
  }

  private assertRunning(): void {
    if (this.stopped) throw new RaftStoppedError();
  }

  /** Polls `cond` on every tick until true; rejects with a timeout, or with what `cond` throws. */
  private until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const check = () => {
        if (this.stopped) return reject(new RaftStoppedError());
        try {
          if (cond()) return resolve();
        } catch (err) {
          return reject(err);
        }
        if (Date.now() - started >= timeoutMs) return reject(new RaftTimeoutError(what, timeoutMs));
        setTimeout(check, this.tickMs);
      };
      check();
    });
  }
}
