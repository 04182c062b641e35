// The one call a follower makes to its leader over the raft stream: append a command or a
// membership change (answered with the entry's index and term at append time), or hand leadership
// on. The leader turns a refusal into a status and a small JSON body; the caller turns it back into
// the same typed error. One table (REFUSALS) says both directions.
import { LearnerSilentError, NotLeaderError, ProposalDroppedError, RaftStoppedError, RaftTimeoutError } from './errors.ts';
import { CallNotSentError, type PeerTransport } from './transport.ts';
import type { ConfChange, NodeId } from './types.ts';

export type LeaderOp = 'propose' | 'conf' | 'transfer';

export interface Position {
  index: number;
  term: number;
}

type Body = Record<string, unknown>;

interface Refusal {
  error: string;
  status: number;
  /** The leader's side: this refusal's body for `e`, or undefined when `e` is not this refusal. */
  encode(e: unknown): Body | undefined;
  /** The caller's side: the error again. */
  decode(j: Body, op: LeaderOp, timeoutMs: number): Error;
}

/** A refusal the caller may answer by asking again, once a leader is known: nothing was appended. */
export class LeaderUnavailableError extends Error {
  override readonly name = 'LeaderUnavailableError';
  /** The leader the refusal names, when it knows one. */
  readonly leaderId: NodeId | null;
  constructor(message: string, leaderId: NodeId | null, options?: ErrorOptions) {
    super(message, options);
    this.leaderId = leaderId;
  }
}

const REFUSALS: readonly Refusal[] = [
  {
    // The node called is not (or no longer) the leader; the body names the one it knows.
    error: 'not_leader',
    status: 421,
    encode: () => undefined, // answered by serve() with the leader it knows, not from the error
    decode: (j) => new LeaderUnavailableError('the node called is not the leader', typeof j.leaderId === 'string' ? j.leaderId : null),
  },
  {
    error: 'stopped',
    status: 503,
    encode: (e) => (e instanceof RaftStoppedError ? {} : undefined),
    decode: () => new LeaderUnavailableError('the leader is stopping', null),
  },
  {
    error: 'dropped',
    status: 409,
    encode: (e) => (e instanceof ProposalDroppedError ? { reason: e.reason } : undefined),
    decode: (j) => new ProposalDroppedError(typeof j.reason === 'string' ? j.reason : 'rejected by leader'),
  },
  {
    error: 'learner_silent',
    status: 409,
    encode: (e) => (e instanceof LearnerSilentError ? { learner: e.learner, silentMs: e.silentMs } : undefined),
    decode: (j) => new LearnerSilentError(typeof j.learner === 'string' ? j.learner : '?', typeof j.silentMs === 'number' ? j.silentMs : 0),
  },
  {
    error: 'timeout',
    status: 504,
    encode: (e) => (e instanceof RaftTimeoutError ? {} : undefined),
    decode: (_j, op, timeoutMs) => new RaftTimeoutError(`${op} on leader`, timeoutMs),
  },
];

const MAX_REDIRECTS = 3;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---- the caller's side ---------------------------------------------------------------------

export interface LeaderCallOptions {
  /** Headers for the leader's log of this call (the request id it was made for). */
  headers?: Record<string, string>;
  urlOf(id: NodeId): string | undefined;
}

/**
 * Calls `target`, following a refusal that names another leader a few hops. Rejects with
 * LeaderUnavailableError when the call certainly appended nothing (no leader there, or the frame never
 * left this node), so the caller may wait for a leader and ask again; any other error is final.
 */
export async function callLeader(transport: PeerTransport, target: NodeId, op: LeaderOp, body: Uint8Array, timeoutMs: number, opts: LeaderCallOptions): Promise<unknown> {
  for (let hop = 0; hop < MAX_REDIRECTS; hop++) {
    let res: { status: number; json: unknown };
    try {
      res = await transport.call(target, op, body, timeoutMs, opts.headers);
    } catch (e) {
      if (e instanceof CallNotSentError) throw new LeaderUnavailableError(`${target} is unreachable`, null, { cause: e });
      // The frame left: the leader may have appended it before the link broke (outcome unknown).
      throw new NotLeaderError(target, opts.urlOf(target) ?? null, { cause: e });
    }
    if (res.status === 200) return res.json;
    const j = (res.json ?? {}) as Body;
    const refusal = REFUSALS.find((r) => r.error === j.error);
    if (!refusal) throw new Error(`raft ${op} on ${target}: HTTP ${res.status} ${JSON.stringify(res.json)}`);
    const err = refusal.decode(j, op, timeoutMs);
    if (err instanceof LeaderUnavailableError && err.leaderId !== null && err.leaderId !== target) {
      target = err.leaderId;
      continue;
    }
    throw err;
  }
  throw new NotLeaderError(target, opts.urlOf(target) ?? null);
}

export const encodeConf = (cc: ConfChange): Uint8Array => encoder.encode(JSON.stringify(cc));
export const encodeTransfer = (to: NodeId | undefined): Uint8Array => encoder.encode(JSON.stringify({ to: to ?? null }));

// ---- the leader's side ---------------------------------------------------------------------

/** What the leader does for a call (RaftNode). */
export interface LeaderSide {
  stopped(): boolean;
  isLeader(): boolean;
  /** The leader this node knows, named in a refusal so the caller can follow it. */
  leaderId(): NodeId | null;
  append(data: Uint8Array): Promise<Position>;
  appendConf(cc: ConfChange): Promise<Position>;
  transfer(to: NodeId | undefined): Promise<void>;
}

/** Serves one call from a peer; a typed error becomes its refusal, anything else is thrown (a bug stays a bug). */
export async function serveLeaderCall(op: string, body: Uint8Array, leader: LeaderSide): Promise<{ status: number; json: unknown }> {
  if (leader.stopped()) return refusal('stopped', {});
  if (!leader.isLeader()) return refusal('not_leader', { leaderId: leader.leaderId() });
  try {
    if (op === 'propose') return { status: 200, json: await leader.append(body) };
    if (op === 'conf') return { status: 200, json: await leader.appendConf(JSON.parse(decoder.decode(body)) as ConfChange) };
    if (op === 'transfer') {
      const { to } = JSON.parse(decoder.decode(body)) as { to: NodeId | null };
      await leader.transfer(to ?? undefined);
      return { status: 200, json: {} };
    }
    return { status: 404, json: { error: `unknown op ${op}` } };
  } catch (e) {
    if (e instanceof NotLeaderError) return refusal('not_leader', { leaderId: leader.leaderId() });
    for (const r of REFUSALS) {
      const json = r.encode(e);
      if (json) return { status: r.status, json: { error: r.error, ...json } };
    }
    throw e;
  }
}

function refusal(error: string, json: Body): { status: number; json: unknown } {
  const r = REFUSALS.find((x) => x.error === error)!;
  return { status: r.status, json: { error, ...json } };
}
