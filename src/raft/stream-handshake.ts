// The raft stream's handshake: who may open a stream to this node, and the keys its frames are
// MAC'd with. The dialler's upgrade request carries HMAC-SHA256(secret) over both node ids, a
// timestamp and a nonce: a stale timestamp, a replayed nonce or a bad MAC is refused with 401, and
// a member that dialled the wrong node learns it with 421. The 101 answer carries the server's own
// nonce and a MAC over both nonces, proving the server holds the secret too. Both nonces derive one
// key per direction (sessionKeys), so frames of one stream cannot be replayed into another.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NodeId } from './types.ts';

export const STREAM_PROTOCOL = 'raftbox-raft/1';
/** How far apart two members' clocks may be for an upgrade's timestamp to count as fresh. */
const MAX_CLOCK_SKEW_MS = 60_000;
/** Nonces remembered before the stale ones are swept. */
const NONCE_SWEEP_AT = 10_000;

/** One key per direction of a stream. */
export interface StreamKeys {
  toServer: Buffer;
  toClient: Buffer;
}

/** The dialler's side: the headers of its upgrade request, and the check of the server's answer. */
export function openRequest(secret: string, from: NodeId, to: NodeId): { headers: Record<string, string>; accepted(res: IncomingMessage): StreamKeys | null } {
  const ts = String(Date.now());
  const nonce = randomBytes(16).toString('hex');
  return {
    headers: {
      connection: 'Upgrade',
      upgrade: STREAM_PROTOCOL,
      'x-raft-from': from,
      'x-raft-to': to,
      'x-raft-ts': ts,
      'x-raft-nonce': nonce,
      'x-raft-mac': hmacHex(secret, `open\n${from}\n${to}\n${ts}\n${nonce}`),
    },
    /** The 101's proof that the server holds the secret: the stream's keys, or null when it does not prove it. */
    accepted(res) {
      const serverNonce = header(res, 'x-raft-nonce');
      const proof = header(res, 'x-raft-mac');
      if (!serverNonce || !proof || !sameMac(proof, hmacHex(secret, `accept\n${from}\n${to}\n${nonce}\n${serverNonce}`))) return null;
      return sessionKeys(secret, nonce, serverNonce);
    },
  };
}

export type AcceptOutcome =
  | { ok: false; status: number; reason: string }
  /** `response`: the 101 head to write before the first frame. */
  | { ok: true; from: NodeId; response: string; keys: StreamKeys };

/** The server's side: checks upgrade requests to `selfId` and remembers the nonces it accepted. */
export class StreamGate {
  private readonly seenNonces = new Map<string, number>();
  private readonly selfId: NodeId;
  private readonly secret: string;
  constructor(selfId: NodeId, secret: string) {
    this.selfId = selfId;
    this.secret = secret;
  }

  check(req: IncomingMessage): AcceptOutcome {
    if (header(req, 'upgrade')?.toLowerCase() !== STREAM_PROTOCOL) return { ok: false, status: 400, reason: `expected Upgrade: ${STREAM_PROTOCOL}` };
    const from = header(req, 'x-raft-from');
    const to = header(req, 'x-raft-to');
    const ts = header(req, 'x-raft-ts');
    const nonce = header(req, 'x-raft-nonce');
    const given = header(req, 'x-raft-mac');
    const unauthorized = { ok: false, status: 401, reason: 'unauthorized' } as const;
    if (!from || !to || !ts || !nonce || !given) return unauthorized;
    if (!this.fresh(ts, nonce)) return unauthorized;
    if (!sameMac(given, hmacHex(this.secret, `open\n${from}\n${to}\n${ts}\n${nonce}`))) return unauthorized;
    // Checked after the MAC: only a member learns that it dialled the wrong node.
    if (to !== this.selfId) return { ok: false, status: 421, reason: `this is ${this.selfId}, not ${to}` };
    this.seenNonces.set(nonce, Date.now());
    const serverNonce = randomBytes(16).toString('hex');
    const response =
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: ${STREAM_PROTOCOL}\r\nconnection: Upgrade\r\n` +
      `x-raft-nonce: ${serverNonce}\r\nx-raft-mac: ${hmacHex(this.secret, `accept\n${from}\n${to}\n${nonce}\n${serverNonce}`)}\r\n\r\n`;
    return { ok: true, from, response, keys: sessionKeys(this.secret, nonce, serverNonce) };
  }

  private fresh(ts: string, nonce: string): boolean {
    const now = Date.now();
    if (!(Math.abs(now - Number(ts)) <= MAX_CLOCK_SKEW_MS)) return false;
    if (this.seenNonces.has(nonce)) return false; // replay
    if (this.seenNonces.size > NONCE_SWEEP_AT) {
      // A nonce older than the skew window is refused by its timestamp already.
      for (const [n, t] of this.seenNonces) if (now - t > MAX_CLOCK_SKEW_MS) this.seenNonces.delete(n);
    }
    return true;
  }
}

function sessionKeys(secret: string, clientNonce: string, serverNonce: string): StreamKeys {
  const key = (dir: string) => createHmac('sha256', secret).update(`key\n${dir}\n${clientNonce}\n${serverNonce}`).digest();
  return { toServer: key('to-server'), toClient: key('to-client') };
}

function hmacHex(secret: string, text: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

function sameMac(givenHex: string, wantHex: string): boolean {
  const given = Buffer.from(givenHex, 'hex');
  const want = Buffer.from(wantHex, 'hex');
  return given.length === want.length && timingSafeEqual(given, want);
}

function header(msg: IncomingMessage, name: string): string | undefined {
  const v = msg.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
