import { createHash } from 'node:crypto';
import type { Command, Json, StateModule, Tx } from '../store/index.ts';
import { applyClaim, applyRelease, claimRefusal, dropClaim, type ClaimCommand, type ClaimRefusal, type ReleaseCommand } from './session-claims.ts';

/**
 * The replicated half of sessions: content-addressed state objects and the names pointing at them.
 *
 *   heap/<id>                     StateObject: one step and the state it leads to (never changes)
 *   name/<subject>/<name>         SessionHead: a named session's current head
 *   calls/<id>                    HostCallRecord[]: the answers step <id>'s host calls received (cold: read for replays)
 *   claim/<subject>/<name>        SessionClaim: a step with external calls holds the session (session-claims.ts)
 *
 * In code a state is a `StateObject` with a state id; `heap` is its name on the wire, in stored keys
 * and in commands, which stay as they are (the other heaps: an isolate's V8 heap and its memory limit).
 *
 * Names are scoped by subject (URI-encoded; '' when auth is off), so two subjects can never see or
 * collide with each other's sessions, and "not yours" and "does not exist" are the same answer.
 */

export type Language = 'js' | 'ts';

export interface StateObject {
  parent: string | null;
  step: number; // 1-based depth of this state in its chain
  code: string;
  language: Language;
  seed: string;
  clock: number;
  memoryMb: number; // the isolate memory limit of the whole chain, set by its first step
  subject: string | null;
  threw: boolean; // the step threw; its partial effects are part of the state
  createdAt: string;
  /** The bundle each of the step's imports resolved to (absent when it named no module): replay uses exactly these. */
  packages?: JournalPackage[];
  /** How many host-call answers the step received (absent: none); they are kept at `calls/<id>`. */
  hostCalls?: number;
  [field: string]: Json | undefined;
}

export interface JournalPackage {
  name: string;
  version: string;
  hash: string;
  [field: string]: Json | undefined;
}

export interface SessionHead {
  name: string;
  subject: string | null;
  head: string;
  steps: number;
  createdAt: string;
  updatedAt: string;
  [field: string]: Json | undefined;
}

export interface StepCommand extends Command {
  type: 'session.step';
  heap: string; // id of the new state, computed by the proposer with stateId()
  object: StateObject;
  session: string | null; // a named session to move onto the new state
  expect: string | null; // compare-and-set: the head the proposer ran on (null: a new session)
  subject: string | null;
  /** The answers of the step's host calls, stored cold at `calls/<heap>` (absent: none). */
  hostCalls?: Json[];
  /** The claim the step holds on its session, having made external calls (session-claims.ts). */
  claim?: string | null;
  /** The proposer's clock when it proposed (epoch ms), against another step's claim expiry. */
  at?: number;
}

/** `duplicate`: the same command was applied before (a proposal retried by the log); it changed nothing now. */
export type StepVerdict =
  | { ok: true; duplicate: boolean }
  | { ok: false; reason: 'moved'; head: string | null }
  | ClaimRefusal
  | { ok: false; reason: 'no_heap' };

export interface DeleteCommand extends Command {
  type: 'session.delete';
  session: string;
  subject: string | null;
}

export const SESSION_MODULE = 'session';

/** The state id shown to users as `heap`: a hash of the parent id and everything that defines the step. */
export function stateId(o: Pick<StateObject, 'parent' | 'code' | 'language' | 'seed' | 'clock' | 'subject'>): string {
  return createHash('sha256')
    .update(JSON.stringify([o.parent, o.code, o.language, o.seed, o.clock, o.subject]))
    .digest('hex');
}

export const stateKey = (id: string) => `heap/${id}`;
export const namePrefix = (subject: string | null | undefined) => `name/${encodeURIComponent(subject ?? '')}/`;
export const nameKey = (subject: string | null | undefined, name: string) => namePrefix(subject) + name;
export const hostCallsKey = (id: string) => `calls/${id}`;
export const sessionModule: StateModule = {
  name: SESSION_MODULE,
  // Recorded answers can be megabytes: on disk (and in snapshots), read when a session is rebuilt.
  coldPrefixes: ['calls/'],
  apply(cmd: Command, tx: Tx): Json | undefined {
    switch (cmd.type) {
      case 'session.step':
        return refuseStep(cmd as StepCommand, tx) ?? writeStep(cmd as StepCommand, tx);
      case 'session.claim': {
        const claim = cmd as ClaimCommand;
        return applyClaim(claim, tx, (tx.get(nameKey(claim.subject, claim.session)) as SessionHead | undefined)?.head ?? null);
      }
      case 'session.release':
        return applyRelease(cmd as ReleaseCommand, tx);
      case 'session.delete':
        return applyDelete(cmd as DeleteCommand, tx);
      default:
        return { rejected: `unknown command type ${cmd.type}` };
    }
  },
};

/**
 * Why the step cannot move the session (its head moved, its parent is unknown), or that it was
 * applied already; null when `writeStep` may apply it. Split from the write so that a command
 * carrying a step and more (the executions module's step with its record) checks everything
 * before it writes anything.
 */
export function refuseStep(cmd: StepCommand, tx: Tx): StepVerdict | null {
  const current = cmd.session === null ? undefined : (tx.get(nameKey(cmd.subject, cmd.session)) as SessionHead | undefined);
  // The same command applied twice (a proposal retried by the log) finds itself as the head already.
  if (current?.head === cmd.heap) return { ok: true, duplicate: true };
  if (cmd.session !== null && (current?.head ?? null) !== cmd.expect) return { ok: false, reason: 'moved', head: current?.head ?? null };
  if (cmd.object.parent !== null && tx.get(stateKey(cmd.object.parent)) === undefined) return { ok: false, reason: 'no_heap' };
  // Another step that made external calls holds the session until it commits or its claim expires.
  if (cmd.session !== null) return claimRefusal(tx, cmd.subject, cmd.session, cmd.claim ?? null, cmd.at ?? Date.parse(cmd.object.createdAt));
  return null;
}

/** Adds the step's state object and moves the session onto it (after `refuseStep` found nothing). */
export function writeStep(cmd: StepCommand, tx: Tx): StepVerdict {
  tx.put(stateKey(cmd.heap), cmd.object);
  if (cmd.hostCalls !== undefined && cmd.hostCalls.length > 0) tx.put(hostCallsKey(cmd.heap), cmd.hostCalls);
  if (cmd.session !== null) {
    dropClaim(tx, cmd.subject, cmd.session);
    const key = nameKey(cmd.subject, cmd.session);
    const current = tx.get(key) as SessionHead | undefined;
    tx.put(key, {
      name: cmd.session,
      subject: cmd.subject,
      head: cmd.heap,
      steps: cmd.object.step,
      createdAt: current?.createdAt ?? cmd.object.createdAt,
      updatedAt: cmd.object.createdAt,
    } satisfies SessionHead);
  }
  return { ok: true, duplicate: false };
}

// State objects stay: other chains forked from this session may still stand on them.
function applyDelete(cmd: DeleteCommand, tx: Tx): Json {
  const key = nameKey(cmd.subject, cmd.session);
  if (tx.get(key) === undefined) return { ok: false };
  tx.del(key);
  dropClaim(tx, cmd.subject, cmd.session);
  return { ok: true };
}
