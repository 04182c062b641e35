import { invalidParams, payloadTooLarge } from '../errors.ts';
import type { Limits } from '../sandbox/index.ts';
import { SessionService } from '../sessions/index.ts';
import type { RunRequest } from './types.ts';

export interface LimitsOptions {
  maxMemoryMb: number;
  maxTimeoutSecs: number;
  maxOutputBytes: number;
  maxCodeBytes: number;
}

export interface CheckedRequest {
  code: string;
  language: 'js' | 'ts';
  session: string | null;
  heap: string | null;
  limits: Limits;
  memoryExplicit: boolean;
  tags: Record<string, string>;
  idempotencyKey: string | null;
  subject: string | null;
  /** The caller's token scopes, for egress rules that name scopes. */
  scopes: string[];
  upgradePackages: boolean;
  typecheck: boolean;
}

/** The heap limit of a run that asks for none. */
export const DEFAULT_MEMORY_MB = 64;
const DEFAULT_TIMEOUT_SECS = 30;
const MAX_TAGS = 32;

/** Everything a run request can get wrong, as `invalidParams`; values over the server's caps are refused, never clamped. */
export function checkRunRequest(req: RunRequest, o: LimitsOptions): CheckedRequest {
  if (typeof req.code !== 'string') throw invalidParams('code must be a string');
  if (Buffer.byteLength(req.code) > o.maxCodeBytes) throw payloadTooLarge(`code is over this server's limit of ${o.maxCodeBytes} bytes`);
  const language = req.language ?? 'ts';
  if (language !== 'js' && language !== 'ts') throw invalidParams("language must be 'js' or 'ts'");
  const session = req.session ?? null;
  const heap = req.heap ?? null;
  SessionService.validate(session, heap);

  const memoryMb = req.memoryMb ?? Math.min(DEFAULT_MEMORY_MB, o.maxMemoryMb);
  if (!Number.isInteger(memoryMb) || memoryMb < 8) throw invalidParams('heap_memory_max_mb must be an integer of at least 8');
  if (memoryMb > o.maxMemoryMb) throw invalidParams(`heap_memory_max_mb ${memoryMb} is over this server's cap of ${o.maxMemoryMb}`);
  const timeoutSecs = req.timeoutSecs ?? Math.min(DEFAULT_TIMEOUT_SECS, o.maxTimeoutSecs);
  if (typeof timeoutSecs !== 'number' || !(timeoutSecs > 0)) throw invalidParams('execution_timeout_secs must be a positive number');
  if (timeoutSecs > o.maxTimeoutSecs) {
    throw invalidParams(`execution_timeout_secs ${timeoutSecs} is over this server's cap of ${o.maxTimeoutSecs}`);
  }

  const tags = req.tags ?? {};
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw invalidParams('tags must be an object of strings');
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw invalidParams(`at most ${MAX_TAGS} tags`);
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || k.length > 128 || v.length > 1024) throw invalidParams('tags must map names (≤128 chars) to strings (≤1024 chars)');
  }
  const idempotencyKey = req.idempotencyKey ?? null;
  if (idempotencyKey !== null && (typeof idempotencyKey !== 'string' || idempotencyKey.length < 1 || idempotencyKey.length > 256)) {
    throw invalidParams('Idempotency-Key must be 1-256 characters');
  }
  const timeoutMs = Math.round(timeoutSecs * 1000);
  return {
    code: req.code,
    language,
    session,
    heap,
    // The same deadline on CPU and on the wall clock: awaiting timers does not count as CPU time.
    limits: { memoryMb, cpuTimeoutMs: timeoutMs, wallTimeoutMs: timeoutMs, maxOutputBytes: o.maxOutputBytes },
    memoryExplicit: req.memoryMb !== undefined,
    tags,
    idempotencyKey,
    subject: req.subject ?? null,
    scopes: req.scopes ?? [],
    upgradePackages: req.upgradePackages === true,
    typecheck: req.typecheck === true,
  };
}
