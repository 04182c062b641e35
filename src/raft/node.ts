// RaftNode: the front of raftbox's Raft and the driver around its pure core. It owns the timers,
// the LevelDB log, the peer transport and the state machine, and runs the Ready loop (driver.ts:
// persist → send → apply → advance). Proposals queued while a Ready is in flight join the next
// batch, so many proposals cost one fsync and one AppendEntries per follower. A follower's
// proposals go to the leader over the raft stream (leader-rpc.ts); reads wait at one of two
// barriers (read-barriers.ts).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { bootstrapLog, encodeConfChange } from './conf-change.ts';
import { bootCore, runReady, type ReadyIO } from './driver.ts';
import { LearnerSilentError, NotLeaderError, ProposalDroppedError, RaftStoppedError, RaftTimeoutError } from './errors.ts';
import { callLeader, encodeConf, encodeTransfer, LeaderUnavailableError, serveLeaderCall, type LeaderOp, type LeaderSide, type Position } from './leader-rpc.ts';
import { cloneConf, type Raft } from './raft.ts';
import { LEARNER_SILENCE_ELECTIONS, learnerReadiness } from './learner-promotion.ts';
import { ReadBarriers } from './read-barriers.ts';
import { RaftStorage } from './storage.ts';
import { PeerTransport } from './transport.ts';
import { EntryType, MessageType, type ConfChange, type Entry, type LogEntry, type Message, type NodeId, type Role, type Snapshot, type SnapshotRestore } from './types.ts';

/**
 * What raft drives. Its snapshots are its own store: raft's snapshot records only where it stands
 * (index, term, membership); what a follower receives is streamed from the state machine.
 */
export interface StateMachine {
  /**
   * Deterministic; persists effects and the applied index atomically; one result per entry. Entries
   * at or below `appliedIndex()` (a restored snapshot covers them) are skipped, answered undefined.
   */
  apply(entries: readonly Entry[]): Promise<unknown[]>;
  appliedIndex(): number;
  /** Makes everything applied so far durable on its own: raft then compacts its log behind it. */
  persist(): Promise<void>;
  /** The state in chunks, a consistent view that includes at least everything applied when it is called. */
  snapshotChunks(): AsyncIterable<Uint8Array>;
  /** Starts receiving a snapshot (one at a time). */
  beginRestore(): Promise<SnapshotRestore>;
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
  /** Take a state-machine snapshot and compact the log every this many applied entries... */
  snapshotEvery?: number;
  /** ...or once the entries applied since the last one hold this many bytes: raft's log is mirrored in memory. */
  snapshotBytes?: number;
  /** Entries kept behind a snapshot so slightly lagging followers need no InstallSnapshot. */
  keepEntries?: number;
  /** How long a proposal or a read may wait, an election included (a follower holds it until a leader is known). */
  proposalTimeoutMs?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
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
  /** A snapshot was taken here (no bytes: the state machine's store is the snapshot), streamed to a follower, or installed from the leader (`bytes` streamed). */
  snapshot?(kind: 'taken' | 'sent' | 'installed', bytes: number | null): void;
  /** A peer would not open a Raft stream with this node (told on every refused attempt). */
  peerRefused?(peer: NodeId, reason: string): void;
}

export interface ProposeOptions {
  timeoutMs?: number;
  /**
   * Applying the entry twice changes nothing the first copy did not (the state machine recognises the
   * second copy): a forwarded proposal whose outcome is unknown (its frame left, then the link to the
   * leader broke, as when the leader is killed) is asked again of the next leader within the timeout,
   * instead of failing.
   */
  idempotent?: boolean;
  /** With `idempotent`: called each time the proposal is asked again after an unknown outcome (its first copy may have committed). */
  onRepeat?: () => void;
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

/** A local proposal waiting for its entry to apply here. */
interface ApplyWaiter {
  term: number;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

interface QueuedProposal {
  data: Uint8Array;
  conf?: ConfChange;
  resolve(pos: Position): void;
  reject(e: unknown): void;
}

const RESULT_CACHE = 4096;

export class RaftNode {
  private readonly core: Raft;
  private readonly transport: PeerTransport;
  private readonly reads: ReadBarriers;
  private readonly waiters = new Map<number, ApplyWaiter>();
  /** Recent apply results, for forwarded proposals whose answer arrives after the local apply. */
  private readonly results = new Map<number, { term: number; result: unknown }>();
  private queue: QueuedProposal[] = [];
  private running = false;
  private stopped = false;
  private loopDone: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private snapshotIndex: number;
  private smApplied: number;
  private readonly tickMs: number;
  private readonly electionMs: number;
  private readonly snapshotEvery: number;
  private readonly snapshotBytes: number;
  /** Bytes of the entries applied since the last snapshot. */
  private bytesSinceSnapshot = 0;
  private readonly keepEntries: number;
  private readonly proposalTimeoutMs: number;
  private readonly io: ReadyIO;

  private readonly opts: RaftNodeOptions;
  private readonly storage: RaftStorage;
  private constructor(opts: RaftNodeOptions, storage: RaftStorage, core: Raft, snapshotIndex: number) {
    this.opts = opts;
    this.storage = storage;
    this.core = core;
    this.snapshotIndex = snapshotIndex;
    this.smApplied = opts.stateMachine.appliedIndex();
    this.tickMs = opts.tickMs ?? 50;
    this.electionMs = this.tickMs * (opts.electionTicks ?? 10);
    this.snapshotEvery = opts.snapshotEvery ?? 10_000;
    this.snapshotBytes = opts.snapshotBytes ?? 64 << 20;
    this.keepEntries = opts.keepEntries ?? 1_000;
    this.proposalTimeoutMs = opts.proposalTimeoutMs ?? 10_000;
    this.reads = new ReadBarriers({
      core,
      kick: () => this.kick(),
      leaderKnown: (deadline) => this.leaderKnown(deadline),
      roundMs: 2 * this.electionMs,
      assertRunning: () => this.assertRunning(),
    });
    this.io = {
      persist: (rd) => this.storage.save(rd),
      restore: (s) => this.snapshotInstalled(s),
      send: (msgs) => this.transport.send(msgs),
      readStates: (states) => this.reads.named(states),
      apply: (ents) => this.apply(ents),
      advanced: () => {
        this.reads.release(this.core.log.applied);
        return this.maybeSnapshot();
      },
    };
    this.transport = new PeerTransport(opts.id, opts.secret, (id) => this.urlOf(id), {
      onMessages: (msgs) => this.receive(msgs),
      onCall: (op, body, meta) => {
        const serve = () => serveLeaderCall(op, body, this.leaderSide);
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
      snapshotSource: () => this.countedChunks(),
      beginRestore: () => this.countedRestore(),
      installSnapshot: (restore, msgs) => this.installSnapshot(restore, msgs),
      onRefused: (peer, reason) => this.opts.observer?.peerRefused?.(peer, reason),
    });
  }

  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const storage = await RaftStorage.open(opts.dataDir);
    try {
      let state = await storage.load();
      if (!state.hardState && !state.snapshot && state.entries.length === 0 && !opts.join) {
        // Fresh data dir: write the same bootstrap membership every initial member writes.
        await storage.save({ ...bootstrapLog([opts.id, ...Object.keys(opts.peers)]), mustSync: true });
        state = await storage.load();
      }
      // A received snapshot is restored into the state machine before raft's log records it, and a
      // local one is taken only once the state machine's state is durable: never behind raft's.
      const snapIndex = state.snapshot?.meta.index ?? 0;
      if (opts.stateMachine.appliedIndex() < snapIndex) {
        throw new Error(`the state in ${opts.dataDir} is at index ${opts.stateMachine.appliedIndex()}, behind raft's snapshot at ${snapIndex}: remove this node's data dir and add it to the cluster again`);
      }
      const core = bootCore(state, {
        id: opts.id,
        electionTick: opts.electionTicks ?? 10,
        heartbeatTick: opts.heartbeatTicks ?? 1,
        random: opts.random ?? (() => randomBytes(4).readUInt32BE() / 2 ** 32),
        preVote: opts.preVote ?? true,
        checkQuorum: opts.checkQuorum ?? true,
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
    const timeoutMs = opts.timeoutMs ?? this.proposalTimeoutMs;
    const repeat = opts.idempotent ? (opts.onRepeat ?? (() => undefined)) : undefined;
    if (!observe) return this.submit(data, undefined, timeoutMs, repeat);
    const t0 = performance.now();
    let ok = false;
    try {
      const result = await this.submit(data, undefined, timeoutMs, repeat);
      ok = true;
      return result;
    } finally {
      observe((performance.now() - t0) / 1000, ok);
    }
  }

  /** Resolves once this node has applied every entry committed anywhere before the call (see read-barriers.ts). */
  linearizableRead(opts: ProposeOptions = {}): Promise<void> {
    return this.reads.linearizable(opts.timeoutMs ?? this.proposalTimeoutMs);
  }

  /**
   * Resolves once this node has applied every entry it knows to be committed, without a message to
   * anyone: for callers that check again when they write (see read-barriers.ts).
   */
  localRead(opts: ProposeOptions = {}): Promise<void> {
    return this.reads.local(opts.timeoutMs ?? this.proposalTimeoutMs);
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
    await this.atLeader('transfer', () => encodeTransfer(to), timeoutMs, () => this.transferHere(to, timeoutMs));
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
    this.reads.rejectAll(err);
    await this.loopDone;
    this.transport.close();
    await this.storage.close();
  }

  // ---- proposals -----------------------------------------------------------------------------

  /**
   * During an election no leader is known for a moment: wait for one until `deadline`, so a leader's
   * death costs a caller latency, not an error. A node that finds none by then refuses.
   */
  private async leaderKnown(deadline: number): Promise<void> {
    if (this.core.lead !== null) return;
    try {
      await this.until(() => this.core.lead !== null, deadline - Date.now(), 'leader');
    } catch (e) {
      if (e instanceof RaftTimeoutError) throw new NotLeaderError(null, null);
      throw e;
    }
  }

  /**
   * Runs `here` when this node leads, else asks the leader (`op`). A refusal that certainly appended
   * nothing (the leader died, stepped down or is stopping) is asked again of the next leader, until
   * the deadline, and so is a call whose outcome is unknown when `repeat` is given (the entry may be
   * applied twice; `repeat` is told each time); every other outcome is the caller's.
   */
  private async atLeader<T>(op: LeaderOp, body: () => Uint8Array, timeoutMs: number, here: () => Promise<T>, repeat?: () => void): Promise<T | unknown> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.assertRunning();
      await this.leaderKnown(deadline);
      const target = this.core.lead!;
      try {
        if (target === this.opts.id) return await here();
        return await callLeader(this.transport, target, op, body(), Math.max(1, deadline - Date.now()), {
          urlOf: (id) => this.urlOf(id),
          ...(this.opts.observer?.outgoingHeaders ? { headers: this.opts.observer.outgoingHeaders() } : {}),
        });
      } catch (e) {
        // NotLeaderError from here: this node stopped leading before the entry was appended.
        const appendedNothing = e instanceof LeaderUnavailableError || (target === this.opts.id && e instanceof NotLeaderError);
        const unknownOutcome = target !== this.opts.id && e instanceof NotLeaderError;
        if (!appendedNothing && !(repeat && unknownOutcome)) throw e;
        if (Date.now() >= deadline) throw e instanceof NotLeaderError ? e : new NotLeaderError(target, this.urlOf(target) ?? null, { cause: e });
        if (!appendedNothing) repeat?.();
        // Give the election a moment: until this node hears of another leader, or one election timeout.
        await this.until(() => this.core.lead !== target, Math.min(this.electionMs, deadline - Date.now()), 'leader change').catch((w: unknown) => {
          if (!(w instanceof RaftTimeoutError)) throw w;
        });
      }
    }
  }

  private async submit(data: Uint8Array, conf: ConfChange | undefined, timeoutMs: number, repeat?: () => void): Promise<unknown> {
    const pos = (await this.atLeader(
      conf ? 'conf' : 'propose',
      () => (conf ? encodeConf(conf) : data),
      timeoutMs,
      () => this.append(data, conf),
      repeat,
    )) as Position;
    return this.awaitApply(pos.index, pos.term, timeoutMs);
  }

  /** Queues an entry on the leader; resolves with its position once appended. */
  private append(data: Uint8Array, conf?: ConfChange): Promise<Position> {
    return new Promise<Position>((resolve, reject) => {
      this.queue.push({ data, ...(conf ? { conf } : {}), resolve, reject });
      this.kick();
    });
  }

  /** What this node does for a follower's call while it leads. */
  private readonly leaderSide: LeaderSide = {
    stopped: () => this.stopped,
    isLeader: () => this.core.role === 'leader',
    leaderId: () => this.core.lead,
    append: (data) => this.append(data),
    appendConf: async (cc) => {
      if (cc.type === 'promote') await this.learnerCaughtUp(cc.id, this.proposalTimeoutMs);
      return this.append(encodeConfChange(cc), cc);
    },
    transfer: (to) => this.transferLeadership(to),
  };

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

  // ---- membership ----------------------------------------------------------------------------

  private async changeMembership(cc: ConfChange, opts: ProposeOptions): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? this.proposalTimeoutMs;
    if (cc.type === 'promote' && this.core.role === 'leader') await this.learnerCaughtUp(cc.id, timeoutMs);
    await this.submit(encodeConfChange(cc), cc, timeoutMs);
  }

  private async transferHere(to: NodeId | undefined, timeoutMs: number): Promise<void> {
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

  private bestTransferee(): NodeId | undefined {
    const prs = this.core.progress();
    return this.core.conf.voters
      .filter((id) => id !== this.opts.id)
      .sort((a, b) => (prs[b]?.match ?? 0) - (prs[a]?.match ?? 0))[0];
  }

  /** Waits until learner `id` may be promoted (learner-promotion.ts); LearnerSilentError when it is not there. */
  private learnerCaughtUp(id: NodeId, timeoutMs: number): Promise<void> {
    const silenceTicks = LEARNER_SILENCE_ELECTIONS * (this.electionMs / this.tickMs);
    return this.until(
      () => {
        const pr = this.core.progress()[id];
        const readiness = learnerReadiness(pr, this.core.log.committed, silenceTicks);
        if (readiness === 'silent') throw new LearnerSilentError(id, pr!.ticksSinceContact * this.tickMs);
        return readiness === 'caught-up';
      },
      timeoutMs,
      `catch-up of learner ${id}`,
    );
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
      this.core.step(m); // refuses types only this node may produce
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
      await runReady(this.core, this.io);
    }
  }

  /** Reads the state machine's chunks for a follower, counting what was sent. */
  private async *countedChunks(): AsyncGenerator<Uint8Array> {
    let bytes = 0;
    for await (const chunk of this.opts.stateMachine.snapshotChunks()) {
      bytes += chunk.length;
      yield chunk;
    }
    this.opts.observer?.snapshot?.('sent', bytes);
  }

  /** A restore from the state machine, counting what it received. */
  private async countedRestore(): Promise<SnapshotRestore> {
    const restore = await this.opts.stateMachine.beginRestore();
    let bytes = 0;
    return {
      write: (chunk) => {
        bytes += chunk.length;
        return restore.write(chunk);
      },
      finish: async (at) => {
        const installed = await restore.finish(at);
        if (installed) this.opts.observer?.snapshot?.('installed', bytes);
        return installed;
      },
      abort: () => restore.abort(),
    };
  }

  /**
   * A snapshot received whole: the state machine takes it (unless it is already past it), then its
   * Snap message goes to the core, which records it in raft's log. The state machine may now stand
   * beyond raft's applied index; the entries in between are skipped when they apply.
   */
  private async installSnapshot(restore: SnapshotRestore, msgs: Message[]): Promise<void> {
    const snap = msgs.find((m) => m.type === MessageType.Snap)?.snapshot;
    if (!snap || this.stopped) {
      await restore.abort();
      return;
    }
    if (await restore.finish({ index: snap.meta.index, term: snap.meta.term })) {
      this.smApplied = Math.max(this.smApplied, this.opts.stateMachine.appliedIndex());
      for (const [index, w] of this.waiters) {
        // Entries covered by a snapshot were applied elsewhere; their results are not known here.
        if (index <= this.smApplied) {
          w.reject(new RaftTimeoutError(`result of entry ${index} (superseded by a snapshot)`, 0));
          this.waiters.delete(index);
        }
      }
    }
    this.receive(msgs);
  }

  /** The core took a snapshot into raft's log (persisted already); the state machine holds it since installSnapshot. */
  private snapshotInstalled(s: Snapshot): void {
    if (this.opts.stateMachine.appliedIndex() < s.meta.index) {
      throw new Error(`raft installed snapshot ${s.meta.index} but the state machine is at ${this.opts.stateMachine.appliedIndex()}`);
    }
    this.smApplied = Math.max(this.smApplied, s.meta.index);
    this.snapshotIndex = s.meta.index;
  }

  private async apply(ents: readonly LogEntry[]): Promise<void> {
    // Only the product's own commands reach the state machine; entries it already applied before
    // a restart are skipped (its applied index is persisted atomically with its effects).
    const commands = ents.filter((e) => e.type === EntryType.Normal && e.data.length > 0 && e.index > this.smApplied);
    let results: unknown[] = [];
    if (commands.length > 0) {
      results = await this.opts.stateMachine.apply(commands.map((e): Entry => ({ index: e.index, term: e.term, data: e.data })));
      // Max: a snapshot installed meanwhile may have moved the state machine further.
      this.smApplied = Math.max(this.smApplied, commands[commands.length - 1]!.index);
    }
    let k = 0;
    for (const e of ents) {
      this.bytesSinceSnapshot += e.data.length;
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

  private async maybeSnapshot(): Promise<void> {
    const applied = this.core.log.applied;
    if (applied - this.snapshotIndex < this.snapshotEvery && this.bytesSinceSnapshot < this.snapshotBytes) return;
    this.bytesSinceSnapshot = 0;
    await this.opts.stateMachine.persist();
    // The state machine's state at its own applied index equals the state at raft's applied index
    // (only no-op and membership entries lie in between), so the snapshot is taken at the latter,
    // with the membership as of that index. Its data is the state machine's store itself.
    const snap: Snapshot = { meta: { index: applied, term: this.core.log.term(applied)!, conf: cloneConf(this.core.conf) }, data: new Uint8Array() };
    const keep = this.entriesToKeep(applied);
    const compactTo = Math.max(0, applied - keep);
    await this.storage.saveSnapshot(snap, compactTo);
    this.core.compact(snap, keep);
    this.snapshotIndex = applied;
    this.opts.observer?.snapshot?.('taken', null);
  }

  /**
   * The entries kept behind the snapshot at `applied`: `keepEntries`, and back to any snapshot a
   * follower is being sent, since it resumes from the entry after that one (compacted away, it would
   * be sent a newer snapshot, and under steady writes a transfer slower than the snapshot interval
   * would never catch up); fewer when they would hold more than a quarter of `snapshotBytes`.
   */
  private entriesToKeep(applied: number): number {
    const stable = this.core.log.storage;
    const floor = this.core.snapshotFloor();
    const wanted = Math.max(this.keepEntries, floor === null ? 0 : applied - floor);
    let bytes = 0;
    let keep = 0;
    for (let i = applied; i > stable.offset && keep < wanted; i--, keep++) {
      bytes += stable.entries(i, i + 1)[0]!.data.length;
      if (bytes > this.snapshotBytes / 4) break;
    }
    return keep;
  }

  private fail(e: unknown): void {
    // A storage failure leaves us unable to promise durability: stop serving.
    this.opts.onError?.(e);
    void this.stop();
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
