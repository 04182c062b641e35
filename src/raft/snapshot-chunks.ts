// A snapshot travels as calls of at most SNAPSHOT_CHUNK bytes each, one at a time and each
// acknowledged, so it never floods the stream nor holds one frame of the snapshot's whole size.
// The receiver reassembles them per sender; a chunk out of order (one was lost, or the sender
// restarted) ends that assembly, and the sender's failed call makes the leader try again.
export const SNAPSHOT_CHUNK = 1 << 20;

/** The call metadata of a chunk: which snapshot transfer, where this chunk starts, the frame's size. */
export type ChunkMeta = Record<string, string>;

/** The chunks of an encoded Snap frame, in order (at least one). */
export function snapshotChunks(frame: Uint8Array, transferId: string, size = SNAPSHOT_CHUNK): Array<{ meta: ChunkMeta; chunk: Uint8Array }> {
  const out: Array<{ meta: ChunkMeta; chunk: Uint8Array }> = [];
  for (let off = 0; off < frame.length || off === 0; off += size) {
    out.push({ meta: { id: transferId, offset: String(off), total: String(frame.length) }, chunk: frame.subarray(off, Math.min(off + size, frame.length)) });
    if (frame.length === 0) break;
  }
  return out;
}

/** The receiving side: one assembly per sender at a time. */
export class SnapshotAssembler {
  private readonly assemblies = new Map<string, { parts: Uint8Array[]; received: number; total: number }>();

  /** Takes one chunk; returns the whole frame once its last chunk arrived in order. */
  accept(from: string, meta: ChunkMeta, chunk: Uint8Array): Uint8Array | undefined {
    const key = `${from}:${meta.id ?? ''}`;
    const offset = Number(meta.offset);
    const total = Number(meta.total);
    let a = this.assemblies.get(key);
    if (offset === 0) {
      // One snapshot at a time per sender is enough; drop that sender's abandoned assemblies.
      for (const k of this.assemblies.keys()) if (k.startsWith(`${from}:`)) this.assemblies.delete(k);
      a = { parts: [], received: 0, total };
      this.assemblies.set(key, a);
    }
    if (!a || a.received !== offset) return undefined;
    a.parts.push(chunk);
    a.received += chunk.length;
    if (a.received < a.total) return undefined;
    this.assemblies.delete(key);
    return Buffer.concat(a.parts);
  }
}
