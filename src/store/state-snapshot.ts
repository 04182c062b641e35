// The wire form of a state snapshot, and where an incoming one is written until it is complete.
//
// A snapshot is the state database's records in key order, as lines `<key as a JSON string>\t<value
// JSON text>\n` (a JSON text holds no raw tab or newline), cut into chunks of whole lines of about
// SNAPSHOT_CHUNK_BYTES. Values are stored as JSON text already, so neither side parses them.
import { rename, rm, stat } from 'node:fs/promises';
import { open as openFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export const SNAPSHOT_CHUNK_BYTES = 1 << 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Cuts `[key, value text]` records into chunks of whole lines. */
export class ChunkWriter {
  private lines: string[] = [];
  private bytes = 0;

  /** Adds one record; returns a finished chunk when this one filled it. */
  add(key: string, valueText: string): Uint8Array | undefined {
    const line = `${JSON.stringify(key)}\t${valueText}\n`;
    this.lines.push(line);
    // Length in UTF-16 units, near enough to bytes for cutting: a chunk is a unit of flow, not a limit.
    this.bytes += line.length;
    return this.bytes >= SNAPSHOT_CHUNK_BYTES ? this.flush() : undefined;
  }

  flush(): Uint8Array | undefined {
    if (this.lines.length === 0) return undefined;
    const out = encoder.encode(this.lines.join(''));
    this.lines = [];
    this.bytes = 0;
    return out;
  }
}

/** The records of one chunk. */
export function chunkRecords(chunk: Uint8Array): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of decoder.decode(chunk).split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    if (tab < 0) throw new Error('malformed snapshot chunk: a line without a value');
    out.push([JSON.parse(line.slice(0, tab)) as string, line.slice(tab + 1)]);
  }
  return out;
}

/** The directory an incoming snapshot is written to, beside the live one. */
export const incomingDir = (dir: string) => `${dir}.incoming`;
const retiredDir = (dir: string) => `${dir}.retired`;

/**
 * Makes the complete incoming snapshot the live state directory. Two renames with the live state
 * retired in between: a crash at any point leaves either the old state or the new one, which
 * `settleStateDir` finishes at the next open.
 */
export async function swapInIncoming(dir: string): Promise<void> {
  await rm(retiredDir(dir), { recursive: true, force: true });
  await rename(dir, retiredDir(dir));
  await rename(incomingDir(dir), dir);
  await syncDir(dirname(dir));
  await rm(retiredDir(dir), { recursive: true, force: true });
}

/**
 * Finishes or undoes what a crash left of a restore: an incoming snapshot is only ever renamed into
 * place once complete, so with the live directory gone it is the state; with the live directory
 * there, an incoming one is an abandoned transfer.
 */
export async function settleStateDir(dir: string): Promise<void> {
  const exists = (p: string) => stat(p).then(() => true, () => false);
  if (!(await exists(dir))) {
    if (await exists(incomingDir(dir))) await rename(incomingDir(dir), dir);
    else if (await exists(retiredDir(dir))) await rename(retiredDir(dir), dir);
  }
  await rm(incomingDir(dir), { recursive: true, force: true });
  await rm(retiredDir(dir), { recursive: true, force: true });
}

async function syncDir(dir: string): Promise<void> {
  const handle = await openFile(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
