// Membership changes over HTTP are signed with the cluster secret, never carry it: HMAC-SHA256 over
// the method, path, a timestamp and the body, under a label of its own so a signature made here can
// never pass for a Raft RPC signature (or the other way round).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

const LABEL = 'raftbox-cluster-admin';
const MAX_SKEW_MS = 60_000;

export const ADMIN_TS = 'x-raftbox-ts';
export const ADMIN_MAC = 'x-raftbox-mac';

export function adminSignature(secret: string, method: string, path: string, body: string, ts = String(Date.now())): Record<string, string> {
  return { [ADMIN_TS]: ts, [ADMIN_MAC]: mac(secret, method, path, body, ts) };
}

export function verifyAdmin(secret: string, method: string, path: string, body: string, ts: string | undefined, given: string | undefined): boolean {
  if (!ts || !given || Math.abs(Date.now() - Number(ts)) > MAX_SKEW_MS) return false;
  const want = Buffer.from(mac(secret, method, path, body, ts), 'hex');
  const got = Buffer.from(given, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

function mac(secret: string, method: string, path: string, body: string, ts: string): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', secret).update(`${LABEL}\n${method.toUpperCase()}\n${path}\n${ts}\n${bodyHash}`).digest('hex');
}
