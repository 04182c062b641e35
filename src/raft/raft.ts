// The Raft core: a synchronous, deterministic state machine in the shape of etcd-io/raft.
// step()/tick()/propose() change state; ready() says what to persist, send and apply; the driver
// does that I/O (persist with sync → send → apply) and then calls advance(). No clocks, no I/O,
// no ambient randomness: the election-timeout jitter comes from the injected `random`.
import { NotLeaderError, ProposalDroppedError } from './errors.ts';
import { RaftLog, CompactedError } from './log.ts';
import type { MemoryStorage } from './memory-storage.ts';
import { Progress } from './progress.ts';
import { committedIndex, hasQuorum, voteResult } from './quorum.ts';
import { ReadOnly } from './read-only.ts';
import {
  EntryType,
  MessageType,
  isLocalMessage,
  message,
  type ConfChange,
  type ConfState,
  type HardState,
  type LogEntry,
  type Message,
  type NodeId,
  type ReadState,
  type Role,
  type Snapshot,
} from './types.ts';
import { decodeConfChange } from './conf-change.ts';

export interface RaftConfig {
  id: NodeId;
  /** Stable log (already durable), including the latest snapshot and its membership. */
  storage: MemoryStorage;
  /** Durable term/vote/commit from a previous run. */
  hardState?: HardState;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** Seeded source of [0, 1) numbers for timeout jitter. */
  random: () => number;
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Serve ReadIndex from the leader's lease (needs checkQuorum; relies on bounded clock drift). */
  leaseRead?: boolean;
  maxInflight?: number;
  maxMsgEntries?: number;
  maxMsgBytes?: number;
  maxApplyEntries?: number;
}

export interface SoftState {
  role: Role;
  lead: NodeId | null;
}

export interface Ready {
  softState?: SoftState;
  /** Persist (synced) together with `entries` before sending `messages`. */
  hardState?: HardState;
  entries: LogEntry[];
  /** A snapshot received from the leader: persist, then restore the state machine from it. */
  snapshot?: Snapshot;
  /** Committed entries to apply, in order: after persisting, or while it runs when nothing else is persisted (driver.ts). */
  committedEntries: LogEntry[];
  messages: Message[];
  readStates: ReadState[];
  /**
   * Whether persisting this Ready needs an fsync (etcd's MustSync): entries, a snapshot, a new term
   * or a vote are promises made to others; a commit index alone is learned again from the leader.
   */
  mustSync: boolean;
  /**
   * The messages may go out while this Ready is being persisted (Raft thesis §10.2.1): the leader's
   * appends to followers, in parallel with its own write. Safe because the leader counts itself for a
   * commit as soon as it appends (as etcd's does), but a commit index it sends can only cover entries
   * a follower acknowledged, which came in an earlier Ready, persisted before this one was taken; and
   * nothing it applies or acknowledges waits less than its own persist. Never with a new term or vote,
   * which must be durable before anyone hears of them, nor from a follower, whose acknowledgements
   * promise that its write is done.
   */
  messagesFirst: boolean;
}

export interface PeerStatus {
  match: number;
  next: number;
  state: Progress['state'];
  learner: boolean;
  /** Ticks since this peer last answered the leader. */
  ticksSinceContact: number;
}

const TRANSFER_CONTEXT = Uint8Array.of(1);

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId | null = null;
  lead: NodeId | null = null;
  role: Role = 'follower';
  readonly log: RaftLog;
  conf: ConfState;
  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private readOnly = new ReadOnly();
  private pendingReadIndex: Message[] = [];
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private ticks = 0;
  /** Index of the latest conf change appended by this leader; a new one waits until it is applied. */
  private pendingConfIndex = 0;
  leadTransferee: NodeId | null = null;
  private prevHardState: HardState;
  private prevSoftState: SoftState;

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly leaseRead: boolean;
  private readonly maxInflight: number;
  private readonly maxMsgEntries: number;
  private readonly maxMsgBytes: number;
  private readonly maxApplyEntries: number;

  constructor(cfg: RaftConfig) {
    if (cfg.heartbeatTick >= cfg.electionTick) throw new Error('heartbeatTick must be less than electionTick');
    this.id = cfg.id;
    this.electionTimeout = cfg.electionTick;
    this.heartbeatTimeout = cfg.heartbeatTick;
    this.random = cfg.random;
    this.preVote = cfg.preVote ?? true;
    this.checkQuorum = cfg.checkQuorum ?? true;
    this.leaseRead = cfg.leaseRead ?? false;
    if (this.leaseRead && !this.checkQuorum) throw new Error('leaseRead requires checkQuorum');
    this.maxInflight = cfg.maxInflight ?? 256;
    this.maxMsgEntries = cfg.maxMsgEntries ?? 1024;
    this.maxMsgBytes = cfg.maxMsgBytes ?? 1 << 20;
    this.maxApplyEntries = cfg.maxApplyEntries ?? 4096;
    this.log = new RaftLog(cfg.storage);
    this.conf = cloneConf(cfg.storage.snapshot().meta.conf);
    const hs = cfg.hardState;
    if (hs) {
      if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
        throw new Error(`hard state commit ${hs.commit} outside [${this.log.committed}, ${this.log.lastIndex()}]`);
      }
      this.log.committed = hs.commit;
      this.term = hs.term;
      this.vote = hs.vote;
    }
    this.prevHardState = this.hardState();
    this.becomeFollower(this.term, null);
    this.prevSoftState = this.softState();
  }

  // ---- public inputs -------------------------------------------------------------------------

  tick(): void {
    this.ticks++;
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  /** Appends commands on the leader. Returns the index and term of the first one. */
  propose(datas: readonly Uint8Array[]): { index: number; term: number } {
    return this.proposeEntries(datas.map((data) => ({ type: EntryType.Normal, data })));
  }

  proposeConfChange(cc: ConfChange, encoded: Uint8Array): { index: number; term: number } {
    if (this.role === 'leader' && this.pendingConfIndex > this.log.applied) {
      throw new ProposalDroppedError('another membership change is in progress');
    }
    if (this.role === 'leader' && cc.type === 'promote' && !this.conf.learners.includes(cc.id)) {
      throw new ProposalDroppedError(`${cc.id} is not a learner`);
    }
    return this.proposeEntries([{ type: EntryType.ConfChange, data: encoded }]);
  }

  /**
   * Requests a linearizable read point (§6.4): the answer arrives as a ReadState carrying `ctx`, once
   * a heartbeat round proved this node's leader still leads (or at once with the `leaseRead` option).
   */
  readIndex(ctx: Uint8Array): void {
    if (this.role !== 'leader' && this.lead === null) throw new NotLeaderError(null, null);
    this.handle(message({ type: MessageType.ReadIndex, from: this.id, entries: [{ index: 0, term: 0, type: EntryType.Normal, data: ctx }] }));
  }

  transferLeadership(to: NodeId): void {
    this.handle(message({ type: MessageType.TransferLeader, from: to, to: this.id }));
  }

  /** Starts an election now (tests and operators). */
  campaign(): void {
    this.handle(message({ type: MessageType.Hup, from: this.id }));
  }

  reportSnapshot(to: NodeId, ok: boolean): void {
    this.handle(message({ type: MessageType.SnapStatus, from: to, reject: !ok }));
  }

  reportUnreachable(to: NodeId): void {
    this.handle(message({ type: MessageType.Unreachable, from: to }));
  }

  /** The driver saved a state-machine snapshot at `snap.meta.index`; keep `keep` entries behind it for slow followers. */
  compact(snap: Snapshot, keep: number): void {
    if (snap.meta.index > this.log.applied) throw new Error(`snapshot ${snap.meta.index} is beyond applied ${this.log.applied}`);
    this.log.storage.setSnapshot(snap);
    const to = Math.min(snap.meta.index, this.log.storage.lastIndex()) - keep;
    if (to > this.log.storage.offset) this.log.storage.compact(to);
  }

  /**
   * A message from another node. Types only this node's own driver produces (isLocalMessage) are
   * refused, as etcd's RawNode.Step refuses them: a peer must not start this node's election, make
   * it heartbeat or report on its snapshots. Returns whether the message was taken.
   */
  step(m: Message): boolean {
    if (isLocalMessage(m.type)) return false;
    this.handle(m);
    return true;
  }

  private handle(m: Message): void {
    if (m.term === 0 || isLocalMessage(m.type)) {
      // local message, or a forwarded ReadIndex/TransferLeader (term-less, like etcd)
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = m.context !== undefined && m.context.length === 1 && m.context[0] === TRANSFER_CONTEXT[0];
        const inLease = this.checkQuorum && this.lead !== null && this.electionElapsed < this.electionTimeout;
        // A node that heard from a live leader recently ignores campaigns: a rejoining node must not disrupt it.
        if (!force && inLease) return;
      }
      if (m.type === MessageType.PreVote) {
        // never change term for a pre-vote
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // the term bumps when the pre-vote wins
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // Tell a stale leader about the new term so it steps down (it may be cut off from everyone else).
        this.send(message({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.send(message({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup(false);
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote =
          this.vote === m.from ||
          (this.vote === null && this.lead === null) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // Answer at the message's term: a pre-candidate is still at its old term and counts only these.
          this.send(message({ type: respType, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(message({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
    }
    if (this.role === 'leader') this.stepLeader(m);
    else if (this.role === 'follower') this.stepFollower(m);
    else this.stepCandidate(m);
  }

  // ---- ready / advance -----------------------------------------------------------------------

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  softState(): SoftState {
    return { role: this.role, lead: this.lead };
  }

  hasReady(): boolean {
    const ss = this.softState();
    const hs = this.hardState();
    return (
      ss.role !== this.prevSoftState.role ||
      ss.lead !== this.prevSoftState.lead ||
      !sameHardState(hs, this.prevHardState) ||
      this.log.unstable.entries.length > 0 ||
      this.log.unstable.snapshot !== undefined ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.hasNextCommittedEnts()
    );
  }

  /** Everything to do now. Call advance(rd) once it is done, before the next ready(). */
  ready(): Ready {
    const rd: Ready = {
      entries: [...this.log.unstable.entries],
      committedEntries: this.log.nextCommittedEnts(this.maxApplyEntries),
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: false,
      messagesFirst: false,
    };
    this.msgs = [];
    this.readStates = [];
    const ss = this.softState();
    if (ss.role !== this.prevSoftState.role || ss.lead !== this.prevSoftState.lead) {
      rd.softState = ss;
      this.prevSoftState = ss;
    }
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) rd.hardState = hs;
    if (this.log.unstable.snapshot) rd.snapshot = this.log.unstable.snapshot;
    const promises = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    rd.mustSync = rd.entries.length > 0 || rd.snapshot !== undefined || promises;
    rd.messagesFirst = this.role === 'leader' && !promises && rd.snapshot === undefined;
    return rd;
  }

  advance(rd: Ready): void {
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.snapshot) {
      this.log.storage.applySnapshot(rd.snapshot);
      this.log.unstable.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > this.log.applied) this.log.applied = rd.snapshot.meta.index;
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      this.log.storage.append(rd.entries);
      this.log.unstable.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.ConfChange) this.applyConfChange(decodeConfChange(e.data));
      }
      this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    }
  }

  // ---- observability -------------------------------------------------------------------------

  progress(): Record<NodeId, PeerStatus> {
    const out: Record<NodeId, PeerStatus> = {};
    for (const [id, pr] of this.prs) {
      out[id] = {
        match: pr.match,
        next: pr.next,
        state: pr.state,
        learner: pr.isLearner,
        ticksSinceContact: id === this.id ? 0 : this.ticks - pr.lastContactTick,
      };
    }
    return out;
  }

  /** The lowest index a follower is being sent a snapshot at (it resumes from the entry after it), or null. */
  snapshotFloor(): number | null {
    if (this.role !== 'leader') return null;
    let floor: number | null = null;
    for (const pr of this.prs.values()) {
      if (pr.state === 'snapshot' && (floor === null || pr.pendingSnapshot < floor)) floor = pr.pendingSnapshot;
    }
    return floor;
  }

  isVoter(id: NodeId = this.id): boolean {
    return this.conf.voters.includes(id);
  }

  // ---- roles ---------------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    this.leadTransferee = null;
    this.votes.clear();
    this.rebuildProgress();
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    this.pendingReadIndex = [];
  }

  private rebuildProgress(): void {
    const old = this.prs;
    this.prs = new Map();
    const last = this.log.lastIndex();
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      const pr = new Progress(last + 1, this.maxInflight, this.conf.learners.includes(id));
      pr.lastContactTick = old.get(id)?.lastContactTick ?? this.ticks;
      if (id === this.id) pr.match = last;
      this.prs.set(id, pr);
    }
  }

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    // No term or vote change: a pre-vote that fails leaves no trace (§9.6 of the thesis).
    this.votes.clear();
    this.lead = null;
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.lead = this.id;
    this.role = 'leader';
    const self = this.prs.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conf changes in the uncommitted tail may be pending: don't allow another until they apply.
    this.pendingConfIndex = this.log.lastIndex();
    // An entry of our own term lets us commit (and serve reads): §5.4.2 and §8.
    this.appendEntries([{ type: EntryType.Normal, data: new Uint8Array() }]);
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id) && !this.log.hasPendingSnapshot();
  }

  private hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return; // campaign only with the membership we will end up with
    if (this.preVote && !transfer) this.campaign_(true, false);
    else this.campaign_(false, transfer);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    try {
      return this.log.slice(this.log.applied + 1, this.log.committed + 1).some((e) => e.type === EntryType.ConfChange);
    } catch (e) {
      if (e instanceof CompactedError) return false;
      throw e;
    }
  }

  private campaign_(pre: boolean, transfer: boolean): void {
    let voteType: MessageType;
    let term: number;
    if (pre) {
      this.becomePreCandidate();
      voteType = MessageType.PreVote;
      term = this.term + 1; // the term we would campaign in
    } else {
      this.becomeCandidate();
      voteType = MessageType.Vote;
      term = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      // single voter
      if (pre) this.campaign_(false, transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send(
        message({
          type: voteType,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          ...(transfer ? { context: TRANSFER_CONTEXT } : {}),
        }),
      );
    }
  }

  private poll(id: NodeId, granted: boolean) {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    return voteResult(this.conf.voters, this.votes);
  }

  // ---- ticks ---------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.handle(message({ type: MessageType.Hup, from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.handle(message({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== null) this.leadTransferee = null;
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.handle(message({ type: MessageType.Beat, from: this.id }));
    }
  }

  // ---- leader --------------------------------------------------------------------------------

  private proposeEntries(ents: Array<Pick<LogEntry, 'type' | 'data'>>): { index: number; term: number } {
    if (this.role !== 'leader') throw new NotLeaderError(this.lead, null);
    if (this.leadTransferee !== null) throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`);
    if (!this.prs.has(this.id)) throw new ProposalDroppedError('this node was removed from the cluster');
    const index = this.log.lastIndex() + 1;
    this.appendEntries(ents);
    for (const e of ents) if (e.type === EntryType.ConfChange) this.pendingConfIndex = index + ents.indexOf(e);
    this.bcastAppend();
    return { index, term: this.term };
  }

  private appendEntries(ents: Array<Pick<LogEntry, 'type' | 'data'>>): void {
    const li = this.log.lastIndex();
    const full: LogEntry[] = ents.map((e, i) => ({ index: li + 1 + i, term: this.term, type: e.type, data: e.data }));
    const last = this.log.append(full);
    this.prs.get(this.id)?.maybeUpdate(last);
    this.maybeCommit();
  }

  /** Advances commit to the quorum match index, only for entries of the current term (§5.4.2). */
  private maybeCommit(): boolean {
    if (this.conf.voters.length === 0) return false;
    const mci = committedIndex(this.conf.voters, (id) => this.prs.get(id)?.match);
    if (mci <= this.log.committed || this.log.term(mci) !== this.term) return false;
    this.log.commitTo(mci);
    return true;
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  /**
   * A follower that has every entry (or has the rest in flight) hears of the new commit index in an
   * App that asks for no answer: its acknowledgement would tell us nothing, and it was a message
   * and a Ready on both sides for every commit. Anyone else gets a normal append.
   */
  private bcastCommit(): void {
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      if (pr.state !== 'replicate' || pr.next <= last) {
        this.maybeSendAppend(id, true);
        continue;
      }
      const prevIndex = pr.next - 1;
      const prevTerm = this.log.term(prevIndex);
      if (prevTerm === undefined) this.maybeSendAppend(id, true);
      else this.send(message({ type: MessageType.App, to: id, index: prevIndex, logTerm: prevTerm, commit: this.log.committed, commitOnly: true }));
    }
  }

  private bcastHeartbeat(ctx?: Uint8Array): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      this.send(
        message({
          type: MessageType.Heartbeat,
          to: id,
          // A follower may not have the leader's commit index yet: never tell it to commit past its match.
          commit: Math.min(pr.match, this.log.committed),
          ...(ctx ? { context: ctx } : {}),
        }),
      );
    }
  }

  /** Sends entries (or a snapshot) to `to` if its flow control allows. Returns whether it sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    let ents: LogEntry[] | undefined;
    try {
      ents = this.log.entriesFrom(pr.next, this.maxMsgEntries, this.maxMsgBytes);
    } catch (e) {
      if (!(e instanceof CompactedError)) throw e;
    }
    if (prevTerm === undefined || ents === undefined) {
      // The entries this follower needs are compacted away: send the snapshot instead (§7).
      if (!pr.recentActive) return false;
      const snap = this.log.snapshot();
      pr.becomeSnapshot(snap.meta.index);
      this.send(message({ type: MessageType.Snap, to, snapshot: snap }));
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      message({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }),
    );
    pr.sentEntries(ents.length, prevIndex + ents.length);
    return true;
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat(this.readOnly.lastPendingContext());
        return;
      case MessageType.CheckQuorum:
        if (!hasQuorum(this.conf.voters, (id) => id === this.id || (this.prs.get(id)?.recentActive ?? false))) {
          // §6.2/§9.6: a leader cut off from a quorum steps down instead of serving stale reads.
          this.becomeFollower(this.term, null);
        } else {
          for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
        }
        return;
      case MessageType.ReadIndex:
        if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
          this.respondReadIndex(m, this.log.committed);
        } else if (!this.committedEntryInCurrentTerm()) {
          // Our commit index is only known to be current once an entry of our term committed.
          this.pendingReadIndex.push(m);
        } else {
          this.startReadIndex(m);
        }
        return;
      case MessageType.TransferLeader:
        this.handleTransferLeader(m.from);
        return;
    }

    const pr = this.prs.get(m.from);
    if (!pr) return;
    // Unreachable and SnapStatus are reports of our own transport about the peer, not word from it.
    if (m.type !== MessageType.Unreachable && m.type !== MessageType.SnapStatus) pr.lastContactTick = this.ticks;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        if (m.reject) {
          // Fast backtracking: jump over the follower's whole conflicting term in one round trip.
          let nextProbe = m.rejectHint;
          if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbe)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.maybeSendAppend(m.from, true);
          }
          return;
        }
        {
          if (!pr.maybeUpdate(m.index)) return; // stale or duplicate
          if (pr.state === 'probe') pr.becomeReplicate();
          else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

          if (this.maybeCommit()) {
            this.releasePendingReadIndex();
            this.bcastCommit(); // followers learn the new commit index now, not at the next heartbeat
          }
          while (this.maybeSendAppend(m.from, false)) {
            // drain the backlog while the inflight window has room
          }
          if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
            this.send(message({ type: MessageType.TimeoutNow, to: m.from }));
          }
        }
        return;
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.probeSent = false;
        // The follower is alive: if a full window's messages were lost, free a slot so we send again.
        if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
        if (pr.match < this.log.lastIndex()) this.maybeSendAppend(m.from, true);
        if (this.leaseRead || !m.context || m.context.length === 0) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (!acks || !hasQuorum(this.conf.voters, (id) => id === this.id || acks.has(id))) return;
        for (const rs of this.readOnly.advance(m.context)) this.respondReadIndex(rs.req, rs.index);
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== 'snapshot') return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the follower's answer (or a heartbeat) before probing again.
        pr.probeSent = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
    }
  }

  private handleTransferLeader(to: NodeId): void {
    const pr = this.prs.get(to);
    if (!pr || pr.isLearner || to === this.id || this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0; // the transfer must complete within one election timeout
    if (pr.match === this.log.lastIndex()) this.send(message({ type: MessageType.TimeoutNow, to }));
    else this.maybeSendAppend(to, true);
  }

  private startReadIndex(m: Message): void {
    if (this.leaseRead) {
      this.respondReadIndex(m, this.log.committed);
      return;
    }
    const ctx = m.entries[0]!.data;
    this.readOnly.addRequest(this.log.committed, m);
    this.readOnly.recvAck(this.id, ctx);
    this.bcastHeartbeat(ctx);
  }

  private releasePendingReadIndex(): void {
    if (!this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const m of pending) this.startReadIndex(m);
  }

  private respondReadIndex(req: Message, index: number): void {
    const context = req.entries[0]!.data;
    if (req.from === this.id) this.readStates.push({ index, context });
    else this.send(message({ type: MessageType.ReadIndexResp, to: req.from, index, entries: req.entries }));
  }

  // ---- follower / candidate ------------------------------------------------------------------

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.log.commitTo(m.commit);
        this.send(message({ type: MessageType.HeartbeatResp, to: m.from, ...(m.context ? { context: m.context } : {}) }));
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
      case MessageType.ReadIndex:
        if (this.lead === null) return; // dropped; the driver times out and retries
        this.send({ ...m, to: this.lead, term: 0 });
        return;
      case MessageType.TimeoutNow:
        // The leader chose us: campaign at once, without pre-vote, overriding followers' leases.
        this.hup(true);
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, context: m.entries[0]?.data ?? new Uint8Array() });
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const respType = this.role === 'pre-candidate' ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case respType: {
        const res = this.poll(m.from, !m.reject);
        if (res === 'won') {
          if (this.role === 'pre-candidate') this.campaign_(false, false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (res === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
    }
  }

  private handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      if (!m.commitOnly) this.send(message({ type: MessageType.AppResp, to: m.from, index: last }));
      return;
    }
    // Reject with a hint: the last index at or before the probe whose term is ≤ the leader's prev term.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      message({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot!;
    if (this.restore(s)) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  private restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // We already have the snapshot's last entry: just fast-forward commit.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    this.conf = cloneConf(s.meta.conf);
    this.rebuildProgress();
    return true;
  }

  // ---- membership ----------------------------------------------------------------------------

  private applyConfChange(cc: ConfChange): void {
    const c = this.conf;
    const without = (ids: NodeId[]) => ids.filter((x) => x !== cc.id);
    switch (cc.type) {
      case 'addLearner':
        if (!c.voters.includes(cc.id) && !c.learners.includes(cc.id)) c.learners = [...c.learners, cc.id];
        break;
      case 'addVoter':
      case 'promote':
        c.learners = without(c.learners);
        if (!c.voters.includes(cc.id)) c.voters = [...c.voters, cc.id];
        break;
      case 'remove':
        c.voters = without(c.voters);
        c.learners = without(c.learners);
        delete c.addrs[cc.id];
        break;
    }
    if (cc.addr && cc.type !== 'remove') c.addrs[cc.id] = cc.addr;

    // Keep progress of existing members; add or drop the changed one.
    const member = c.voters.includes(cc.id) || c.learners.includes(cc.id);
    const pr = this.prs.get(cc.id);
    if (!member) this.prs.delete(cc.id);
    else if (pr) pr.isLearner = c.learners.includes(cc.id);
    else {
      const np = new Progress(this.log.lastIndex() + 1, this.maxInflight, c.learners.includes(cc.id));
      np.recentActive = true; // a new member must not count as lost before it had a chance to answer
      np.lastContactTick = this.ticks;
      if (cc.id === this.id) np.match = this.log.lastIndex();
      this.prs.set(cc.id, np);
    }

    if (this.role !== 'leader') return;
    if (!member && cc.id === this.id) {
      this.becomeFollower(this.term, null); // removed leader steps down
      return;
    }
    if (this.leadTransferee !== null && !this.prs.has(this.leadTransferee)) this.leadTransferee = null;
    // A smaller quorum may commit more; a new member needs entries.
    if (this.maybeCommit()) this.releasePendingReadIndex();
    this.bcastAppend();
  }

  private send(m: Message): void {
    if (m.from === '') m.from = this.id; // a forwarded TransferLeader keeps its target in `from`
    const keepsTerm =
      m.type === MessageType.Vote ||
      m.type === MessageType.PreVote ||
      m.type === MessageType.VoteResp ||
      m.type === MessageType.PreVoteResp;
    // Votes carry the campaign's term; forwarded ReadIndex/TransferLeader carry none; the rest carry ours.
    if (!keepsTerm && !(m.term === 0 && (m.type === MessageType.ReadIndex || m.type === MessageType.TransferLeader))) {
      m.term = this.term;
    }
    this.msgs.push(m);
  }
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners], addrs: { ...c.addrs } };
}
