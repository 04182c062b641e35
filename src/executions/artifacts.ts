import { notFound } from '../errors.ts';
import type { Artifact } from '../sandbox/index.ts';
import type { ArtifactRecord, Execution } from './types.ts';

/** A run's artifacts as its record keeps them (the bytes as base64: records are JSON). */
export function artifactRecords(artifacts: readonly Artifact[] | undefined): { artifacts?: ArtifactRecord[] } {
  if (!artifacts || artifacts.length === 0) return {};
  return {
    artifacts: artifacts.map((a) => ({ name: a.name, mimeType: a.mimeType, size: a.data.byteLength, data: Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).toString('base64') })),
  };
}

/** One artifact of a whole record (from `get`, not a list page) with its bytes; not_found when it has none of that name. */
export function artifactOf(e: Execution, name: string): Artifact {
  const found = e.artifacts?.find((a) => a.name === name);
  if (!found || found.data === undefined) throw notFound(`execution ${e.id} has no artifact ${name}`);
  return { name: found.name, mimeType: found.mimeType, data: new Uint8Array(Buffer.from(found.data, 'base64')) };
}
