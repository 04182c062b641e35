// Node-to-node RPC over HTTP keep-alive. Raft messages to one peer are batched into one binary
// frame per request, with at most one request in flight per peer (messages produced meanwhile
// join the next frame). Snapshots travel as the same frame, cut into chunks. Every request is
// authenticated with HMAC-SHA256(secret, method, path, timestamp, nonce, body); a bad or missing
// MAC, a stale timestamp or a replayed nonce gets 401 and is dropped.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, request } from 'undici';
import { decodeMessages, encodeMessages } from './codec.ts';
import { MessageType, type Message, type NodeId } from './types.ts';

export const RAFT_PREFIX = '/raft';
const MAX_CLOCK_SKEW_MS = 60_000;
const SNAPSHOT_CHUNK = 1 << 20;
const MAX_QUEUED_PER_PEER = 4096;
const MAX_BODY = 64 << 20;

export interface TransportHandlers {
  /** Raft messages received from a peer (already authenticated and decoded). */
  onMessages(msgs: Message[]): void;
  /** A non-raft RPC (forwarded proposal, membership change): JSON or bytes in, JSON out. */
  onCall(op: string, body: Uint8Array): Promise<{ status: number; json: unknown }>;
  /** A send to `peer` failed; `snapshot` says whether it was a snapshot (reported to the core). */
  onUnreachable(peer: NodeId, snapshot: boolean | null): void;
  onSnapshotSent(peer: NodeId): void;
}

interface PeerQueue {
  queued: Message[];
  sending: boolean;
}

export class HttpTransport {
  private readonly agent = new Agent({ keepAliveTimeout: 30_000, connections: 8, pipelining: 1 });
  private readonly peers = new Map<NodeId, PeerQueue>();
  private readonly seenNonces = new Map<string, number>();
  private readonly assemblies = new Map<string, { parts: Uint8Array[]; received: number; total: number }>();
  private closed = false;

  constructor(
    private readonly selfId: NodeId,
    private readonly secret: string,
    private readonly resolve: (id: NodeId) => string | undefined,
    private readonly handlers: TransportHandlers,
  ) {}

  // ---- client side ---------------------------------------------------------------------------

  send(msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.type === MessageType.Snap) {
        void this.sendSnapshot(m);
        continue;
      }
      let q = this.peers.get(m.to);
      if (!q) this.peers.set(m.to, (q = { queued: [], sending: false }));
      // A peer that stays down must not make us buffer without bound: raft resends what matters.
      if (q.queued.length >= MAX_QUEUED_PER_PEER) q.queued.shift();
      q.queued.push(m);
      if (!q.sending) void this.flush(m.to, q);
    }
  }

  private async flush(peer: NodeId, q: PeerQueue): Promise<void> {
    q.sending = true;
    try {
      while (q.queued.length > 0 && !this.closed) {
        const batch = q.queued;
        q.queued = [];
        try {
          await this.post(peer, '/msg', encodeMessages(batch));
        } catch {
          this.handlers.onUnreachable(peer, null);
        }
      }
    } finally {
      q.sending = false;
    }
  }

  private async sendSnapshot(m: Message): Promise<void> {
    const frame = encodeMessages([m]);
    const id = randomBytes(8).toString('hex');
    try {
      for (let off = 0; off < frame.length || off === 0; off += SNAPSHOT_CHUNK) {
        const chunk = frame.subarray(off, Math.min(off + SNAPSHOT_CHUNK, frame.length));
        await this.post(m.to, `/snap?id=${id}&offset=${off}&total=${frame.length}`, chunk);
        if (frame.length === 0) break;
      }
      this.handlers.onSnapshotSent(m.to);
    } catch {
      this.handlers.onUnreachable(m.to, true);
    }
  }

  /** A non-raft RPC to a peer; returns its status and JSON answer. */
  async call(peer: NodeId, op: string, body: Uint8Array, timeoutMs: number, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
    return this.post(peer, `/call/${op}`, body, timeoutMs, headers);
  }

  private async post(peer: NodeId, subpath: string, body: Uint8Array, timeoutMs = 10_000, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
    const base = this.resolve(peer);
    if (!base) throw new Error(`no address for ${peer}`);
    const p = RAFT_PREFIX + subpath;
    const res = await request(base.replace(/\/$/, '') + p, {
      method: 'POST',
      dispatcher: this.agent,
      headers: { ...headers, 'content-type': 'application/octet-stream', ...this.sign('POST', p, body) },
      body,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode >= 500 || res.statusCode === 401 || res.statusCode === 404) {
      throw new Error(`raft rpc ${p} to ${peer}: HTTP ${res.statusCode} ${text}`);
    }
    return { status: res.statusCode, json: text ? (JSON.parse(text) as unknown) : null };
  }

  private sign(method: string, p: string, body: Uint8Array): Record<string, string> {
    const ts = String(Date.now());
    const nonce = randomBytes(12).toString('hex');
    return {
      'x-raft-from': this.selfId,
      'x-raft-ts': ts,
      'x-raft-nonce': nonce,
      'x-raft-mac': mac(this.secret, method, p, ts, nonce, body),
    };
  }

  // ---- server side ---------------------------------------------------------------------------

  /** Node `http` handler for `/raft/*`. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    void this.serve(req, res).catch((e: unknown) => {
      if (!res.headersSent) reply(res, 500, { error: String((e as Error)?.message ?? e) });
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === null) return reply(res, 413, { error: 'body too large' });
    const url = new URL(req.url ?? '/', 'http://x');
    if (!this.verify(req, url.pathname + url.search, body)) return reply(res, 401, { error: 'unauthorized' });
    if (req.method !== 'POST') return reply(res, 405, { error: 'method not allowed' });
    const sub = url.pathname.slice(RAFT_PREFIX.length);
    if (sub === '/msg') {
      this.handlers.onMessages(decodeMessages(body));
      return reply(res, 204);
    }
    if (sub === '/snap') {
      const frame = this.assemble(url, body);
      if (frame) this.handlers.onMessages(decodeMessages(frame));
      return reply(res, 204);
    }
    if (sub.startsWith('/call/')) {
      const out = await this.handlers.onCall(sub.slice('/call/'.length), body);
      return reply(res, out.status, out.json);
    }
    reply(res, 404, { error: 'not found' });
  }

  private assemble(url: URL, chunk: Uint8Array): Uint8Array | undefined {
    const id = url.searchParams.get('id') ?? '';
    const offset = Number(url.searchParams.get('offset'));
    const total = Number(url.searchParams.get('total'));
    let a = this.assemblies.get(id);
    if (offset === 0) {
      // One snapshot at a time per sender is enough; drop abandoned assemblies.
      this.assemblies.clear();
      a = { parts: [], received: 0, total };
      this.assemblies.set(id, a);
    }
    if (!a || a.received !== offset) return undefined;
    a.parts.push(chunk);
    a.received += chunk.length;
    if (a.received < a.total) return undefined;
    this.assemblies.delete(id);
    return Buffer.concat(a.parts);
  }

  private verify(req: IncomingMessage, p: string, body: Uint8Array): boolean {
    const ts = header(req, 'x-raft-ts');
    const nonce = header(req, 'x-raft-nonce');
    const given = header(req, 'x-raft-mac');
    if (!ts || !nonce || !given) return false;
    const now = Date.now();
    if (Math.abs(now - Number(ts)) > MAX_CLOCK_SKEW_MS) return false;
    const want = Buffer.from(mac(this.secret, req.method ?? '', p, ts, nonce, body), 'hex');
    const got = Buffer.from(given, 'hex');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return false;
    if (this.seenNonces.has(nonce)) return false; // replay
    this.seenNonces.set(nonce, now);
    if (this.seenNonces.size > 100_000) {
      for (const [n, t] of this.seenNonces) if (now - t > MAX_CLOCK_SKEW_MS) this.seenNonces.delete(n);
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.agent.close();
  }
}

function mac(secret: string, method: string, p: string, ts: string, nonce: string, body: Uint8Array): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', secret).update(`${method}\n${p}\n${ts}\n${nonce}\n${bodyHash}`).digest('hex');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<Uint8Array | null> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const b = c as Buffer;
    size += b.length;
    if (size > MAX_BODY) return null;
    parts.push(b);
  }
  return Buffer.concat(parts);
}

function reply(res: ServerResponse, status: number, json?: unknown): void {
  if (json === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(json);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}
