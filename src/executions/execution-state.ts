import { refuseStep, SESSION_MODULE, stepColdReads, writeStep, type StepCommand, type StepVerdict } from '../sessions/index.ts';
import type { Command, Json, StateModule, Tx } from '../store/index.ts';
import type { ConsoleLine } from '../sandbox/index.ts';
import { FINISHED, type ExecutionRecord } from './types.ts';

/**
 * The replicated execution records.
 *
 *   rec/<id>                 ExecutionRecord; a large one without its body (`bodyOmitted`)
 *   body/<id>                cold (on disk only): the console, result and error of a large record
 *   active/<id>              present while the record is queued or running (what "node lost" scans)
 *   live/<id>                { lines, truncated }: the console of a running record so far, replicated
 *                            in chunks by its owner (live-output.ts); gone once the record is finished,
 *                            whose own console then holds every line
 *   idem/<subject>/<key>     id of the first execution run with that idempotency key
 *   fin/<n>                  { id, bytes } of the n-th finished record, for retention in finishing
 *                            order (bytes: its size as JSON; a bare id in data from before sizes)
 *   meta/fin                 { next, oldest, bytes }: the window of fin/ that still has records,
 *                            and the size of the records in it
 *   heapref/<heap>           how many records name session state <heap> (it is kept while they are)
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
/** A chunk of a running execution's console (live-output.ts): its lines from `from` on. */
export interface OutputCommand extends Command {
  type: 'execution.output';
  id: string;
  from: number;
  lines: Json;
  truncated: boolean;
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

/** What a large record keeps on disk only: everything that can be large (artifacts' bytes too). */
export type ExecutionBody = Pick<ExecutionRecord, 'result' | 'resultText' | 'console' | 'error' | 'code' | 'artifacts'>;

// A record whose console, result, error and code take more characters than this keeps them cold (and
// out of list pages); the first kilobyte of the error message stays with the record.
const BODY_INLINE_CHARS = 4096;
const SUMMARY_ERROR_MESSAGE_CHARS = 1024;

/**
 * Splits a large record into what stays in memory (and in list pages) and its body (`null`: small
 * enough to stay whole). Every field the records' own logic reads (status, ids, keys) stays.
 */
export function splitBody(record: ExecutionRecord): { summary: ExecutionRecord; body: ExecutionBody | null } {
  if (record.bodyOmitted || bodyChars(record) <= BODY_INLINE_CHARS) return { summary: record, body: null };
  const { result, resultText, console, error, code, ...rest } = record;
  const artifacts = record.artifacts;
  const summaryError = error && {
    ...error,
    message: error.message.length > SUMMARY_ERROR_MESSAGE_CHARS ? `${error.message.slice(0, SUMMARY_ERROR_MESSAGE_CHARS)}…` : error.message,
    stack: null,
  };
  return {
    summary: {
      ...rest,
      result: null,
      resultText: null,
      console: [],
      error: summaryError,
      // What was attached stays listed; the bytes are in the body.
      ...(artifacts ? { artifacts: artifacts.map(({ data: _data, ...meta }) => meta) } : {}),
      bodyOmitted: true,
    },
    body: { result, resultText, console, error, ...(code !== undefined ? { code } : {}), ...(artifacts ? { artifacts } : {}) },
  };
}

/** Characters of what can be large in a record (the wire view shows the console twice). */
export function bodyChars(e: Pick<ExecutionRecord, 'resultText' | 'console' | 'error' | 'code' | 'artifacts'>): number {
  let chars = (e.resultText?.length ?? 0) + (e.error ? e.error.message.length + (e.error.stack?.length ?? 0) : 0) + (e.code?.length ?? 0);
  for (const line of e.console) chars += 2 * line.text.length + 24;
  for (const a of e.artifacts ?? []) chars += (a.data?.length ?? 0) + a.name.length + a.mimeType.length + 48;
  return chars;
}
export const idemKey = (subject: string | null | undefined, key: string) => `idem/${encodeURIComponent(subject ?? '')}/${encodeURIComponent(key)}`;
export const ACTIVE = 'active/';
export const LIVE = 'live/';
export const liveKey = (id: string) => LIVE + id;

/** The console of a running execution so far, as replicated. */
export interface LiveConsole {
  lines: ConsoleLine[];
  truncated: boolean;
}

const heapRefKey = (heap: string) => `heapref/${heap}`;

/** Whether a retained record names session state `heap` (the sessions module asks before collecting it). */
export function heldByRecords(tx: Tx, heap: string): boolean {
  return tx.namespace(EXECUTION_MODULE).get(heapRefKey(heap)) !== undefined;
}

/** Moves one record's hold from state `from` to state `to` (either may be null). */
function moveHeapRef(tx: Tx, from: string | null | undefined, to: string | null | undefined): void {
  if (from === to) return;
  if (to) tx.put(heapRefKey(to), ((tx.get(heapRefKey(to)) as number | undefined) ?? 0) + 1);
  if (from) {
    const left = ((tx.get(heapRefKey(from)) as number | undefined) ?? 1) - 1;
    if (left > 0) tx.put(heapRefKey(from), left);
    else tx.del(heapRefKey(from));
  }
}
const activeKey = (id: string) => ACTIVE + id;
const META = 'meta/fin';

export const executionModule: StateModule = {
  name: EXECUTION_MODULE,
  coldPrefixes: ['body/'],
  // A step with its record applies the session module's reducer, which reads the step's parent.
  coldReads: (cmd) => (cmd.type === 'execution.step' ? stepColdReads((cmd as ExecutionStepCommand).step as unknown as StepCommand) : []),
  apply(cmd: Command, tx: Tx): Json | undefined {
    switch (cmd.type) {
      case 'execution.create':
        return create((cmd as CreateCommand).record as unknown as ExecutionRecord, tx);
      case 'execution.start':
        return start(cmd as StartCommand, tx);
      case 'execution.finish':
        return finish((cmd as FinishCommand).record as unknown as ExecutionRecord, cmd as FinishCommand, tx);
      case 'execution.output':
        return appendOutput(cmd as OutputCommand, tx);
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
  moveHeapRef(tx, null, record.heap);
  tx.put(activeKey(record.id), true);
  return { ok: true };
}

function step(cmd: ExecutionStepCommand, tx: Tx): ExecutionStepVerdict {
  const session = tx.namespace(SESSION_MODULE);
  const stepCmd = cmd.step as unknown as StepCommand;
  // A second copy of this command (proposed again when its first copy's outcome was unknown to the
  // proposer) finds the record finished as this command finishes it, with the state only this step's
  // run can name, even if the session moved on since.
  const record = cmd.record as unknown as ExecutionRecord;
  const done = tx.get(recordKey(record.id)) as ExecutionRecord | undefined;
  if (done?.status === record.status && done.finishedAt === record.finishedAt && done.heap === stepCmd.heap) return { ok: true, duplicate: true };
  const refused = refuseStep(stepCmd, session);
  if (refused) return refused;
  // The record goes first: if it is finished already, the step is refused too, so a step is in the
  // journal exactly when its record says so.
  if (!finish(record, cmd, tx).ok) return { ok: false, reason: 'record_closed' };
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
  moveHeapRef(tx, current?.heap, record.heap);
  if (body) tx.put(bodyKey(record.id), body as unknown as Json);
  tx.del(activeKey(record.id));
  tx.del(liveKey(record.id));
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
    moveHeapRef(tx, record.heap, null);
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

/** Appends a chunk where the replicated console ends; a chunk from elsewhere (lost or repeated) answers how many lines there are. */
function appendOutput(cmd: OutputCommand, tx: Tx): Json {
  const record = tx.get(recordKey(cmd.id)) as ExecutionRecord | undefined;
  // Not created yet (its create is on the way): nothing is there. Finished: its record has every line.
  if (!record) return { ok: false, have: 0 };
  if (FINISHED.has(record.status)) return { ok: false };
  const live = (tx.get(liveKey(cmd.id)) as unknown as LiveConsole | undefined) ?? { lines: [], truncated: false };
  if (cmd.from !== live.lines.length) return { ok: false, have: live.lines.length };
  tx.put(liveKey(cmd.id), { lines: [...live.lines, ...(cmd.lines as unknown as ConsoleLine[])], truncated: cmd.truncated } as unknown as Json);
  return { ok: true };
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
    // What it printed before its node went is kept, as far as it was replicated.
    const live = tx.get(liveKey(record.id)) as unknown as LiveConsole | undefined;
    const output = live ? { console: live.lines, consoleTruncated: live.truncated } : {};
    finish({ ...record, ...output, status: 'failed', error, finishedAt: cmd.at, durationMs: null, interrupted: true }, cmd, tx);
    failed++;
  }
  return { failed };
}
