import type { Command, Json, StateModule, Tx } from '../store/index.ts';
import { FINISHED, type ExecutionRecord } from './types.ts';

/**
 * The replicated execution records.
 *
 *   rec/<id>                 ExecutionRecord
 *   active/<id>              present while the record is queued or running (what "node lost" scans)
 *   idem/<subject>/<key>     id of the first execution run with that idempotency key
 *   fin/<n>                  id of the n-th finished record, for retention in finishing order
 *   meta/fin                 { next, oldest }: the window of fin/ that still has records
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
export interface FinishCommand extends Command {
  type: 'execution.finish';
  record: Json;
  keep: number; // retention decided by the proposer, so every replica prunes the same records
}
export interface CancelCommand extends Command {
  type: 'execution.cancel';
  id: string;
}
export interface FailCommand extends Command {
  type: 'execution.fail';
  node: string;
  exceptBoot: string | null; // the node's current run, whose executions are still alive
  reason: string;
  at: string;
  keep: number;
}

/** Answer to create/finish: `existing` names the execution that already holds the id or idempotency key. */
export type RecordVerdict = { ok: true } | { ok: false; existing: string };

export const recordKey = (id: string) => `rec/${id}`;
export const idemKey = (subject: string | null | undefined, key: string) => `idem/${encodeURIComponent(subject ?? '')}/${encodeURIComponent(key)}`;
export const ACTIVE = 'active/';
const activeKey = (id: string) => ACTIVE + id;
const META = 'meta/fin';

export const executionModule: StateModule = {
  name: EXECUTION_MODULE,
  apply(cmd: Command, tx: Tx): Json | undefined {
    switch (cmd.type) {
      case 'execution.create':
        return create((cmd as CreateCommand).record as unknown as ExecutionRecord, tx);
      case 'execution.start':
        return start(cmd as StartCommand, tx);
      case 'execution.finish':
        return finish((cmd as FinishCommand).record as unknown as ExecutionRecord, (cmd as FinishCommand).keep, tx);
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

function start(cmd: StartCommand, tx: Tx): Json {
  const record = tx.get(recordKey(cmd.id)) as ExecutionRecord | undefined;
  if (record?.status !== 'queued') return { ok: false };
  putRecord(tx, { ...record, status: 'running', startedAt: cmd.startedAt });
  return { ok: true };
}

function finish(record: ExecutionRecord, keep: number, tx: Tx): RecordVerdict {
  const current = tx.get(recordKey(record.id)) as ExecutionRecord | undefined;
  if (current && FINISHED.has(current.status)) return { ok: false, existing: record.id };
  if (!current) {
    const claimed = claim(record, tx);
    if (claimed) return claimed;
  }
  putRecord(tx, current?.cancelRequested ? { ...record, cancelRequested: true } : record);
  tx.del(activeKey(record.id));
  if (record.interrupted) releaseKey(record, tx);
  const meta = (tx.get(META) as { next: number; oldest: number } | undefined) ?? { next: 0, oldest: 0 };
  tx.put(`fin/${meta.next}`, record.id);
  meta.next++;
  for (; meta.next - meta.oldest > keep; meta.oldest++) prune(tx.get(`fin/${meta.oldest}`) as string, meta.oldest, tx);
  tx.put(META, meta);
  return { ok: true };
}

function prune(id: string, n: number, tx: Tx): void {
  tx.del(`fin/${n}`);
  const record = tx.get(recordKey(id)) as ExecutionRecord | undefined;
  if (!record) return;
  tx.del(recordKey(id));
  releaseKey(record, tx);
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
    finish({ ...record, status: 'failed', error, finishedAt: cmd.at, durationMs: null, interrupted: true }, cmd.keep, tx);
    failed++;
  }
  return { failed };
}
