import { invalidParams, payloadTooLarge } from '../errors.ts';
import type { Limits, StepInputs } from '../sandbox/index.ts';
import { SessionService } from '../sessions/index.ts';
import type { RunRequest } from './types.ts';

export interface LimitsOptions {
  maxMemoryMb: number;
  maxTimeoutSecs: number;
  maxOutputBytes: number;
  maxCodeBytes: number;
  /** Artifact bytes per run (default: the sandbox's DEFAULT_MAX_ARTIFACT_BYTES). */
  maxArtifactBytes?: number;
  /** Bytes of inputs per run: values as JSON text plus the files' bytes (default 8 MiB). */
  maxInputBytes?: number;
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
  /** What the request handed in (null: nothing); recorded with a session's step. */
  inputs: StepInputs | null;
  /** The caller's token scopes, for egress rules that name scopes. */
  scopes: string[];
  upgradePackages: boolean;
  typecheck: boolean;
}

/** The heap limit of a run that asks for none. */
export const DEFAULT_MEMORY_MB = 64;
export const DEFAULT_TIMEOUT_SECS = 30;
const MAX_TAGS = 32;
const DEFAULT_MAX_INPUT_BYTES = 8 << 20;
const MAX_INPUTS = 64;
// A name code can write as `inputs.name`.
const INPUT_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,63}$/;
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

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
  const inputs = checkInputs(req, o.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES);
  return {
    code: req.code,
    language,
    session,
    heap,
    // The same deadline on CPU and on the wall clock: awaiting timers does not count as CPU time.
    limits: {
      memoryMb,
      cpuTimeoutMs: timeoutMs,
      wallTimeoutMs: timeoutMs,
      maxOutputBytes: o.maxOutputBytes,
      ...(o.maxArtifactBytes === undefined ? {} : { maxArtifactBytes: o.maxArtifactBytes }),
    },
    memoryExplicit: req.memoryMb !== undefined,
    tags,
    idempotencyKey,
    subject: req.subject ?? null,
    inputs,
    scopes: req.scopes ?? [],
    upgradePackages: req.upgradePackages === true,
    typecheck: req.typecheck === true,
  };
}

/** The request's named values and files, checked: names code can write, media types, and the byte cap. */
function checkInputs(req: RunRequest, maxBytes: number): StepInputs | null {
  const values = req.inputs ?? {};
  const files = req.files ?? {};
  if (typeof values !== 'object' || values === null || Array.isArray(values)) throw invalidParams('inputs must be an object of named JSON values');
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw invalidParams('files must be an object of named files');
  const names = [...Object.keys(values), ...Object.keys(files)];
  if (names.length === 0) return null;
  if (names.length > MAX_INPUTS) throw invalidParams(`at most ${MAX_INPUTS} inputs and files in all`);
  for (const name of names) {
    if (!INPUT_NAME.test(name)) throw invalidParams(`input name ${JSON.stringify(name.slice(0, 80))} must be an identifier (letters, digits, _ and $, at most 64)`);
    if (Object.hasOwn(values, name) && Object.hasOwn(files, name)) throw invalidParams(`${name} is both an input value and a file`);
  }
  let bytes = Object.keys(values).length > 0 ? Buffer.byteLength(JSON.stringify(values)) : 0;
  for (const [name, file] of Object.entries(files)) {
    if (typeof file?.mimeType !== 'string' || !MEDIA_TYPE.test(file.mimeType)) throw invalidParams(`file ${name}: mime_type must be a media type like "text/csv"`);
    if (!(file.data instanceof Uint8Array)) throw invalidParams(`file ${name}: data must be bytes`);
    bytes += file.data.byteLength;
  }
  if (bytes > maxBytes) throw payloadTooLarge(`inputs and files take ${bytes} bytes, over this server's limit of ${maxBytes} bytes per run`);
  return {
    ...(Object.keys(values).length > 0 ? { values } : {}),
    ...(Object.keys(files).length > 0 ? { files: Object.fromEntries(Object.entries(files).map(([n, f]) => [n, { mimeType: f.mimeType.toLowerCase(), data: f.data }])) } : {}),
  };
}
