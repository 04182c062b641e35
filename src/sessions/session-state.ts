import type { JournalInputs } from './journal-inputs.ts';
import { createHash } from 'node:crypto';
import type { ColdKey, Command, Json, StateModule, Tx } from '../store/index.ts';
import { applyClaim, applyRelease, claimRefusal, dropClaim, type ClaimCommand, type ClaimRefusal, type ReleaseCommand } from './session-claims.ts';
import {
  addRef,
  applyCollect,
  applyExpire,
  collectReads,
  enqueueRelease,
  GC_PREFIX,
  REF_PREFIX,
  refKey,
  type CollectCommand,
  type ExpireCommand,
  type HeldByRecords,
} from './session-lifecycle.ts';

/**
 * The replicated half of sessions: content-addressed state objects and the names pointing at them.
 *
 *   heap/<id>                     StateObject: one step and the state it leads to (never changes)
 *   name/<subject>/<name>         SessionHead: a named session's current head
 *   calls/<id>                    HostCallRecord[]: the answers step <id>'s host calls received (cold: read for replays)
 *   claim/<subject>/<name>        SessionClaim: a step with external calls holds the session (session-claims.ts)
 *   ref/, gc/, gcmeta             what holds each state object, and their collection (session-lifecycle.ts)
 *   usage/<subject>               bytes of the subject's state objects (its stored_mb quota)
 *
 * State objects grow with every step: they are cold (on disk, read through the state's bounded
 * cache, StateModule.coldPrefixes); heads, one per session, stay in memory.
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
  /** What the step's request handed in as `inputs` (absent: nothing): replay hands it the same. */
  inputs?: JournalInputs;
  /** How many host-call answers the step received (absent: none); they are kept at `calls/<id>`. */
  hostCalls?: number;
  /** The CPU the step used when it ran: a replay's budget is made of these (absent in journals from before). */
  cpuMs?: number;
  /** The step ran to its end in one task, never waiting on the host (absent: it did not, or a journal from before): see RunOutcome.oneTask. */
  oneTask?: true;
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

const STATE_PREFIX = 'heap/';
export const NAMES = 'name/';
export const stateKey = (id: string) => STATE_PREFIX + id;
export const namePrefix = (subject: string | null | undefined) => `${NAMES}${encodeURIComponent(subject ?? '')}/`;
export const nameKey = (subject: string | null | undefined, name: string) => namePrefix(subject) + name;
export const isNameKey = (key: string) => key.startsWith(NAMES);
export const hostCallsKey = (id: string) => `calls/${id}`;
export const usageKey = (subject: string | null | undefined) => `usage/${encodeURIComponent(subject ?? '')}`;
const objectBytes = (object: Json) => Buffer.byteLength(JSON.stringify(object));

/** The cold keys applying a step reads: its parent, and the parent's count of holders. */
export function stepColdReads(cmd: StepCommand): ColdKey[] {
  const parent = cmd.object.parent;
  return parent === null ? [] : [{ module: SESSION_MODULE, key: stateKey(parent) }, { module: SESSION_MODULE, key: refKey(parent) }];
}

/** `held` says whether a retained execution record names a state object (passed in: sessions sit below executions). */
export function sessionModule(held: HeldByRecords = () => false): StateModule {
  return {
    name: SESSION_MODULE,
    // Recorded answers can be megabytes: on disk (and in snapshots), read when a session is rebuilt.
    coldPrefixes: [STATE_PREFIX, REF_PREFIX, GC_PREFIX, 'calls/'],
    coldReads(cmd: Command): ColdKey[] {
      if (cmd.type === 'session.step') return stepColdReads(cmd as StepCommand);
      if (cmd.type === 'session.collect') return collectReads(cmd as CollectCommand, stateKey).map((key) => ({ module: SESSION_MODULE, key }));
      return [];
    },
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
        case 'session.expire':
          return applyExpire(cmd as ExpireCommand, tx, NAMES, (t, head) => enqueueRelease(t, head, 1));
        case 'session.collect':
          return applyCollect(cmd as CollectCommand, tx, {
            heapKey: stateKey,
            held,
            collected: (t, id, object) => {
              addUsage(t, (object as StateObject).subject, -objectBytes(object));
              // A collected step's recorded answers go with it.
              if ((object as StateObject).hostCalls) t.del(hostCallsKey(id));
            },
          });
        default:
          return { rejected: `unknown command type ${cmd.type}` };
      }
    },
  };
}

function addUsage(tx: Tx, subject: string | null, bytes: number): void {
  const total = ((tx.get(usageKey(subject)) as number | undefined) ?? 0) + bytes;
  if (total > 0) tx.put(usageKey(subject), total);
  else tx.del(usageKey(subject));
}

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

/**
 * Adds the step's state object and moves the session onto it (after `refuseStep` found nothing).
 * The object is held by its session's head (an unnamed fork: by its record only, for a while), and
 * holds its parent; the head it replaces is released through the collection queue.
 */
export function writeStep(cmd: StepCommand, tx: Tx): StepVerdict {
  tx.put(stateKey(cmd.heap), cmd.object);
  if (cmd.hostCalls !== undefined && cmd.hostCalls.length > 0) tx.put(hostCallsKey(cmd.heap), cmd.hostCalls);
  addUsage(tx, cmd.object.subject, objectBytes(cmd.object));
  tx.put(refKey(cmd.heap), cmd.session !== null ? 1 : 0);
  if (cmd.session === null) enqueueRelease(tx, cmd.heap, 0);
  if (cmd.object.parent !== null) addRef(tx, cmd.object.parent);
  if (cmd.session !== null) {
    dropClaim(tx, cmd.subject, cmd.session);
    const key = nameKey(cmd.subject, cmd.session);
    const current = tx.get(key) as SessionHead | undefined;
    if (current) enqueueRelease(tx, current.head, 1);
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

// Its state objects go once nothing else holds them (other chains forked from it may still stand on them).
function applyDelete(cmd: DeleteCommand, tx: Tx): Json {
  const key = nameKey(cmd.subject, cmd.session);
  const head = tx.get(key) as SessionHead | undefined;
  if (head === undefined) return { ok: false };
  tx.del(key);
  dropClaim(tx, cmd.subject, cmd.session);
  enqueueRelease(tx, head.head, 1);
  return { ok: true };
}
