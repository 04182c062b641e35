import { createHash } from 'node:crypto';
import type { Command, Json, StateModule, Tx } from '../store/index.ts';
import {
  addRef,
  applyCollect,
  applyExpire,
  collectReads,
  enqueueRelease,
  IDEMOF_PREFIX,
  idemOfKey,
  REF_PREFIX,
  refKey,
  type CollectCommand,
  type ExpireCommand,
  type HeldByRecords,
} from './session-lifecycle.ts';

/**
 * The replicated half of sessions: content-addressed state objects and the names pointing at them.
 *
 *   heap/<id>                     HeapObject: one step and the state it leads to (never changes)
 *   name/<subject>/<name>         SessionHead: a named session's current head
 *   idem/<subject>/<key>          StepDone: the first result of a step with that idempotency key
 *   ref/, idemof/, gc/, gcmeta    what holds each state object, and their collection (session-lifecycle.ts)
 *   usage/<subject>               bytes of the subject's state objects (its stored_mb quota)
 *
 * Names are scoped by subject (URI-encoded; '' when auth is off), so two subjects can never see or
 * collide with each other's sessions, and "not yours" and "does not exist" are the same answer.
 * State objects and idempotency records grow with every step: they are cold (on disk, read through
 * the state's bounded cache); heads, one per session, stay in memory.
 */

export type Language = 'js' | 'ts';

export interface HeapObject {
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
  /** The CPU the step used when it ran: a replay's budget is made of these (absent in journals from before). */
  cpuMs?: number;
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

interface StepDone {
  heap: string;
  step: number;
  execution: string | null;
  [field: string]: Json | undefined;
}

export interface StepCommand extends Command {
  type: 'session.step';
  heap: string; // id of the new state, computed by the proposer with heapId()
  object: HeapObject;
  session: string | null; // a named session to move onto the new state
  expect: string | null; // compare-and-set: the head the proposer ran on (null: a new session)
  subject: string | null;
  idempotencyKey: string | null;
  execution: string | null;
  /** Applied through `records` in the same transaction iff the step is accepted (the execution record). */
  record: Command | null;
}

export type StepVerdict =
  | { ok: true; heap: string; step: number; execution: string | null; duplicate: boolean }
  | { ok: false; reason: 'moved'; head: string | null }
  | { ok: false; reason: 'no_heap' | 'record_closed' };

export interface DeleteCommand extends Command {
  type: 'session.delete';
  session: string;
  subject: string | null;
}

export const SESSION_MODULE = 'session';

/** The state id shown to users as `heap`: a hash of the parent id and everything that defines the step. */
export function heapId(o: Pick<HeapObject, 'parent' | 'code' | 'language' | 'seed' | 'clock' | 'subject'>): string {
  return createHash('sha256')
    .update(JSON.stringify([o.parent, o.code, o.language, o.seed, o.clock, o.subject]))
    .digest('hex');
}

export const heapKey = (id: string) => HEAP_PREFIX + id;
const NAMES = 'name/';
export const usageKey = (subject: string | null | undefined) => `usage/${encodeURIComponent(subject ?? '')}`;
const objectBytes = (object: Json) => Buffer.byteLength(JSON.stringify(object));

function addUsage(tx: Tx, subject: string | null, bytes: number): void {
  const total = ((tx.get(usageKey(subject)) as number | undefined) ?? 0) + bytes;
  if (total > 0) tx.put(usageKey(subject), total);
  else tx.del(usageKey(subject));
}
export const namePrefix = (subject: string | null | undefined) => `name/${encodeURIComponent(subject ?? '')}/`;
export const nameKey = (subject: string | null | undefined, name: string) => namePrefix(subject) + name;
const HEAP_PREFIX = 'heap/';
const IDEM_PREFIX = 'idem/';
const idemKey = (subject: string | null, key: string) => `${IDEM_PREFIX}${encodeURIComponent(subject ?? '')}/${encodeURIComponent(key)}`;

/**
 * `records` is the module that owns execution records; a step command carries its record command
 * so the step and its record commit atomically, and `held` says whether a retained record names a
 * state object (both passed in, because sessions sit below executions).
 */
export function sessionModule(records?: StateModule, held: HeldByRecords = () => false): StateModule {
  return {
    name: SESSION_MODULE,
    coldPrefixes: [HEAP_PREFIX, IDEM_PREFIX, REF_PREFIX, IDEMOF_PREFIX],
    coldReads(cmd: Command): string[] {
      if (cmd.type === 'session.collect') return collectReads(cmd as CollectCommand, heapKey);
      if (cmd.type !== 'session.step') return [];
      const step = cmd as StepCommand;
      return [
        ...(step.idempotencyKey !== null ? [idemKey(step.subject, step.idempotencyKey)] : []),
        ...(step.object.parent !== null ? [heapKey(step.object.parent), refKey(step.object.parent)] : []),
      ];
    },
    apply(cmd: Command, tx: Tx): Json | undefined {
      switch (cmd.type) {
        case 'session.step':
          return applyStep(cmd as StepCommand, tx, records);
        case 'session.delete':
          return applyDelete(cmd as DeleteCommand, tx);
        case 'session.expire':
          return applyExpire(cmd as ExpireCommand, tx, NAMES, (t, head) => enqueueRelease(t, head, 1));
        case 'session.collect':
          return applyCollect(cmd as CollectCommand, tx, { heapKey, held, collected: (t, object) => addUsage(t, (object as HeapObject).subject, -objectBytes(object)) });
        default:
          return { rejected: `unknown command type ${cmd.type}` };
      }
    },
  };
}

function applyStep(cmd: StepCommand, tx: Tx, records: StateModule | undefined): StepVerdict {
  const step = cmd.object.step;
  if (cmd.idempotencyKey !== null) {
    const done = tx.get(idemKey(cmd.subject, cmd.idempotencyKey)) as StepDone | undefined;
    if (done) return { ok: true, ...done, duplicate: true };
  }
  const key = cmd.session === null ? null : nameKey(cmd.subject, cmd.session);
  const current = key === null ? undefined : (tx.get(key) as SessionHead | undefined);
  // The same command applied twice (a proposal retried by the log) finds itself as the head already.
  if (current?.head === cmd.heap) return { ok: true, heap: cmd.heap, step, execution: cmd.execution, duplicate: true };
  if (key !== null && (current?.head ?? null) !== cmd.expect) return { ok: false, reason: 'moved', head: current?.head ?? null };
  if (cmd.object.parent !== null && tx.get(heapKey(cmd.object.parent)) === undefined) return { ok: false, reason: 'no_heap' };
  // The record goes first: if its module refuses it (say the execution was already failed as "node
  // lost"), the step is refused too, so a step is in the journal exactly when its record says so.
  if (cmd.record !== null && records) {
    const recorded = records.apply(cmd.record, tx.namespace(records.name)) as { ok?: boolean } | undefined;
    if (recorded?.ok === false) return { ok: false, reason: 'record_closed' };
  }

  tx.put(heapKey(cmd.heap), cmd.object);
  addUsage(tx, cmd.object.subject, objectBytes(cmd.object));
  // Held by its session's head, if it has one; a state without (a fork) only by its record, for a while.
  tx.put(refKey(cmd.heap), key !== null ? 1 : 0);
  if (key === null) enqueueRelease(tx, cmd.heap, 0);
  if (cmd.object.parent !== null) addRef(tx, cmd.object.parent);
  if (current) enqueueRelease(tx, current.head, 1);
  if (key !== null && cmd.session !== null) {
    tx.put(key, {
      name: cmd.session,
      subject: cmd.subject,
      head: cmd.heap,
      steps: step,
      createdAt: current?.createdAt ?? cmd.object.createdAt,
      updatedAt: cmd.object.createdAt,
    } satisfies SessionHead);
  }
  if (cmd.idempotencyKey !== null) {
    tx.put(idemKey(cmd.subject, cmd.idempotencyKey), { heap: cmd.heap, step, execution: cmd.execution } satisfies StepDone);
    tx.put(idemOfKey(cmd.heap), idemKey(cmd.subject, cmd.idempotencyKey));
  }
  return { ok: true, heap: cmd.heap, step, execution: cmd.execution, duplicate: false };
}

// Its state objects go once nothing else holds them (other chains forked from it may still stand on them).
function applyDelete(cmd: DeleteCommand, tx: Tx): Json {
  const key = nameKey(cmd.subject, cmd.session);
  const head = tx.get(key) as SessionHead | undefined;
  if (head === undefined) return { ok: false };
  tx.del(key);
  enqueueRelease(tx, head.head, 1);
  return { ok: true };
}
