import { refuseStep, SESSION_MODULE, writeStep, type StepCommand, type StepVerdict } from '../sessions/index.ts';
import type { Command, Json, StateModule, Tx } from '../store/index.ts';
import { FINISHED, type ExecutionRecord } from './types.ts';

/**
 * The replicated execution records.
 *
 *   rec/<id>                 ExecutionRecord; a large one without its body (`bodyOmitted`)
 *   body/<id>                cold (on disk only): the console, result and error of a large record
 *   active/<id>              present while the record is queued or running (what "node lost" scans)
 *   idem/<subject>/<key>     id of the first execution run with that idempotency key
 *   fin/<n>                  { id, bytes } of the n-th finished record, for retention in finishing
 *                            order (bytes: its size as JSON; a bare id in data from before sizes)
 *   meta/fin                 { next, oldest, bytes }: the window of fin/ that still has records,
 *                            and the size of the records in it
 *
 * A session step commits with its finished record in one command (`execution.step`), applied here:
 * the step goes through the session module's reducer over its namespace, in the same transaction.
 *
 * Transitions only move forward: a record that is finished stays as it first finished, so the order
 * in which a node's create, start and finish commands reach the log does not matter.
 */

export const EXECUTION_MODULE = 'execution';

// Records travel as Json: the sandbox's interfaces (console lines, errors) lack the index signature Json wants.
export interface CreateCommand extends Command {
  type: 'execution.create';
  record: Json;
}
export interface StartCommand extends Command {
  type: 'execution.start';
  id: string;
  startedAt: string;
}
/** Retention, decided by the proposer so that every replica prunes the same records. */
interface Retention {
  keep: number; // finished records at most
  keepBytes?: number; // their size as JSON at most (the newest is kept whatever its size); absent: no cap
}
export interface FinishCommand extends Command, Retention {
  type: 'execution.finish';
  record: Json;
}
/** A session step and the finished record of its execution, committed together or not at all. */
export interface ExecutionStepCommand extends Command, Retention {
  type: 'execution.step';
  step: Json;
  record: Json;
}
export interface CancelCommand extends Command {
  type: 'execution.cancel';
  id: string;
}
export interface FailCommand extends Command, Retention {
  type: 'execution.fail';
  node: string;
  exceptBoot: string | null; // the node's current run, whose executions are still alive
  reason: string;
  at: string;
}

/** Answer to a step with its record: the session's verdict, or its record was finished already (say failed as "node lost"). */
export type ExecutionStepVerdict = StepVerdict | { ok: false; reason: 'record_closed' };

/** Answer to create/finish: `existing` names the execution that already holds the id or idempotency key. */
export type RecordVerdict = { ok: true } | { ok: false; existing: string };

export const recordKey = (id: string) => `rec/${id}`;
export const bodyKey = (id: string) => `body/${id}`;

/** What a large record keeps on disk only: everything that can be large. */
export type ExecutionBody = Pick<ExecutionRecord, 'result' | 'resultText' | 'console' | 'error'>;

// A record whose console, result and error take more characters than this keeps them cold (and out
// of list pages); the first kilobyte of the error message stays with the record.
const BODY_INLINE_CHARS = 4096;
const SUMMARY_ERROR_MESSAGE_CHARS = 1024;

/**
 * Splits a large record into what stays in memory (and in list pages) and its body (`null`: small
 * enough to stay whole). Every field the records' own logic reads (status, ids, keys) stays.
 */
export function splitBody(record: ExecutionRecord): { summary: ExecutionRecord; body: ExecutionBody | null } {
  if (record.bodyOmitted || bodyChars(record) <= BODY_INLINE_CHARS) return { summary: record, body: null };
  const { result, resultText, console, error } = record;
  const summaryError = error && {
    ...error,
    message: error.message.length > SUMMARY_ERROR_MESSAGE_CHARS ? `${error.message.slice(0, SUMMARY_ERROR_MESSAGE_CHARS)}…` : error.message,
    stack: null,
  };
  return {
    summary: { ...record, result: null, resultText: null, console: [], error: summaryError, bodyOmitted: true },
    body: { result, resultText, console, error },
  };
}

/** Characters of what can be large in a record (the wire view shows the console twice). */
export function bodyChars(e: Pick<ExecutionRecord, 'resultText' | 'console' | 'error'>): number {
  let chars = (e.resultText?.length ?? 0) + (e.error ? e.error.message.length + (e.error.stack?.length ?? 0) : 0);
  for (const line of e.console) chars += 2 * line.text.length + 24;
  return chars;
}
export const idemKey = (subject: string | null | undefined, key: string) => `idem/${encodeURIComponent(subject ?? '')}/${encodeURIComponent(key)}`;
export const ACTIVE = 'active/';
const activeKey = (id: string) => ACTIVE + id;
const META = 'meta/fin';

export const executionModule: StateModule = {
  name: EXECUTION_MODULE,
  coldPrefixes: ['body/'],
  apply(cmd: Command, tx: Tx): Json | undefined {
    switch (cmd.type) {
      case 'execution.create':
        return create((cmd as CreateCommand).record as unknown as ExecutionRecord, tx);
      case 'execution.start':
        return start(cmd as StartCommand, tx);
      case 'execution.finish':
        return finish((cmd as FinishCommand).record as unknown as ExecutionRecord, cmd as FinishCommand, tx);
      case 'execution.step':
        return step(cmd as ExecutionStepCommand, tx);
      case 'execution.cancel':
        return requestCancel(cmd as CancelCommand, tx);
      case 'execution.fail':
        return failNode(cmd as FailCommand, tx);
      default:
        return { rejected: `unknown command type ${cmd.type}` };
    }
  },
};

function create(record: ExecutionRecord, tx: Tx): RecordVerdict {
  if (tx.get(recordKey(record.id)) !== undefined) return { ok: false, existing: record.id };
  const claimed = claim(record, tx);
  if (claimed) return claimed;
  putRecord(tx, record);
  tx.put(activeKey(record.id), true);
  return { ok: true };
}

function step(cmd: ExecutionStepCommand, tx: Tx): ExecutionStepVerdict {
  const session = tx.namespace(SESSION_MODULE);
  const stepCmd = cmd.step as unknown as StepCommand;
  const refused = refuseStep(stepCmd, session);
  if (refused) return refused;
  // The record goes first: if it is finished already, the step is refused too, so a step is in the
  // journal exactly when its record says so.
  if (!finish(cmd.record as unknown as ExecutionRecord, cmd, tx).ok) return { ok: false, reason: 'record_closed' };
  return writeStep(stepCmd, session);
}

function start(cmd: StartCommand, tx: Tx): Json {
  const record = tx.get(recordKey(cmd.id)) as ExecutionRecord | undefined;
  if (record?.status !== 'queued') return { ok: false };
  putRecord(tx, { ...record, status: 'running', startedAt: cmd.startedAt });
  return { ok: true };
}

function finish(record: ExecutionRecord, retention: Retention, tx: Tx): RecordVerdict {
  const current = tx.get(recordKey(record.id)) as ExecutionRecord | undefined;
  if (current && FINISHED.has(current.status)) return { ok: false, existing: record.id };
  if (!current) {
    const claimed = claim(record, tx);
    if (claimed) return claimed;
  }
  const { summary, body } = splitBody(current?.cancelRequested ? { ...record, cancelRequested: true } : record);
  putRecord(tx, summary);
  if (body) tx.put(bodyKey(record.id), body as unknown as Json);
  tx.del(activeKey(record.id));
  if (record.interrupted) releaseKey(record, tx);
  const meta = (tx.get(META) as FinishedWindow | undefined) ?? { next: 0, oldest: 0, bytes: 0 };
  const bytes = Buffer.byteLength(JSON.stringify(record));
  tx.put(`fin/${meta.next}`, { id: record.id, bytes });
  meta.next++;
  meta.bytes = (meta.bytes ?? 0) + bytes;
  const keepBytes = retention.keepBytes ?? Infinity;
  while (meta.next - meta.oldest > retention.keep || (meta.bytes > keepBytes && meta.next - meta.oldest > 1)) {
    meta.bytes -= prune(meta.oldest, tx);
    meta.oldest++;
  }
  tx.put(META, meta);
  return { ok: true };
}

interface FinishedWindow {
  next: number;
  oldest: number;
  bytes?: number; // absent in data from before sizes
  [field: string]: Json | undefined;
}

/** Forgets the n-th finished record; returns the bytes it was counted with. */
function prune(n: number, tx: Tx): number {
  const entry = tx.get(`fin/${n}`) as string | { id: string; bytes: number } | undefined;
  tx.del(`fin/${n}`);
  if (entry === undefined) return 0;
  const [id, bytes] = typeof entry === 'string' ? [entry, 0] : [entry.id, entry.bytes];
  const record = tx.get(recordKey(id)) as ExecutionRecord | undefined;
  if (record) {
    tx.del(recordKey(id));
    if (record.bodyOmitted) tx.del(bodyKey(id));
    releaseKey(record, tx);
  }
  return bytes;
}

/** Frees the record's idempotency key, unless a later execution holds it by now. */
function releaseKey(record: ExecutionRecord, tx: Tx): void {
  if (record.idempotencyKey !== null && tx.get(idemKey(record.subject, record.idempotencyKey)) === record.id) {
    tx.del(idemKey(record.subject, record.idempotencyKey));
  }
}

const putRecord = (tx: Tx, record: ExecutionRecord) => tx.put(recordKey(record.id), record as unknown as Json);

/** Takes the record's idempotency key, or names the execution that already has it. */
function claim(record: ExecutionRecord, tx: Tx): RecordVerdict | null {
  if (record.idempotencyKey === null) return null;
  const key = idemKey(record.subject, record.idempotencyKey);
  const holder = tx.get(key) as string | undefined;
  if (holder !== undefined) return { ok: false, existing: holder };
  tx.put(key, record.id);
  return null;
}

function requestCancel(cmd: CancelCommand, tx: Tx): Json {
  const record = tx.get(recordKey(cmd.id)) as ExecutionRecord | undefined;
  if (!record || FINISHED.has(record.status)) return { ok: false };
  putRecord(tx, { ...record, cancelRequested: true });
  return { ok: true };
}

function failNode(cmd: FailCommand, tx: Tx): Json {
  let failed = 0;
  for (const [key] of tx.scan(ACTIVE)) {
    const record = tx.get(recordKey(key.slice(ACTIVE.length))) as ExecutionRecord | undefined;
    if (!record || record.node !== cmd.node || record.boot === cmd.exceptBoot) continue;
    const error = { name: 'NodeError', message: cmd.reason, stack: null, line: null, column: null };
    finish({ ...record, status: 'failed', error, finishedAt: cmd.at, durationMs: null, interrupted: true }, cmd, tx);
    failed++;
  }
  return { failed };
}
