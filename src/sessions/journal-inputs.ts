import type { StepInputs } from '../sandbox/index.ts';
import type { Json } from '../store/index.ts';

/**
 * A step's inputs as its journal entry keeps them (JSON: files' bytes as base64), so that a replay on
 * any node hands the step exactly what it read live. They are what the step was asked with, recorded
 * like its code; bounded by the per-run input cap (`maxInputBytes`).
 */
export interface JournalInputs {
  values?: Record<string, Json>;
  files?: Record<string, { mimeType: string; data: string }>;
  [field: string]: Json | undefined;
}

export function journalInputs(inputs: StepInputs): JournalInputs {
  return {
    ...(inputs.values ? { values: inputs.values as Record<string, Json> } : {}),
    ...(inputs.files
      ? { files: Object.fromEntries(Object.entries(inputs.files).map(([name, f]) => [name, { mimeType: f.mimeType, data: Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength).toString('base64') }])) }
      : {}),
  };
}

export function stepInputs(journal: JournalInputs): StepInputs {
  return {
    ...(journal.values ? { values: journal.values } : {}),
    ...(journal.files ? { files: Object.fromEntries(Object.entries(journal.files).map(([name, f]) => [name, { mimeType: f.mimeType, data: new Uint8Array(Buffer.from(f.data, 'base64')) }])) } : {}),
  };
}
