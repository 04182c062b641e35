// ReadIndex bookkeeping on the leader (§6.4 of the Raft thesis; etcd's read_only.go): each read
// records the commit index at arrival and is released once a quorum acknowledged a heartbeat that
// carried its context — proof that we were still the leader when it arrived.
import type { Message, NodeId } from './types.ts';

interface ReadIndexStatus {
  req: Message;
  index: number;
  acks: Set<NodeId>;
}

export function contextKey(ctx: Uint8Array | undefined): string {
  if (!ctx) return '';
  let s = '';
  for (const b of ctx) s += String.fromCharCode(b);
  return s;
}

export class ReadOnly {
  private pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  addRequest(index: number, req: Message): void {
    const key = contextKey(req.entries[0]?.data);
    if (this.pending.has(key)) return;
    this.pending.set(key, { req, index, acks: new Set() });
    this.queue.push(key);
  }

  /** Records that `from` acknowledged the heartbeat carrying `ctx`; returns the ack set, if the read is pending. */
  recvAck(from: NodeId, ctx: Uint8Array | undefined): ReadonlySet<NodeId> | undefined {
    const st = this.pending.get(contextKey(ctx));
    if (!st) return undefined;
    st.acks.add(from);
    return st.acks;
  }

  /** Releases the read for `ctx` and every read queued before it (a later heartbeat proves earlier ones too). */
  advance(ctx: Uint8Array | undefined): ReadIndexStatus[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const keys = this.queue.splice(0, at + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of keys) {
      out.push(this.pending.get(k)!);
      this.pending.delete(k);
    }
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.req.entries[0]?.data;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
