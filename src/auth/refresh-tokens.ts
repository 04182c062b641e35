import type { FamilyRecord, OAuthStore } from './oauth-state.ts';
import { randomToken, sha256 } from './secrets.ts';

// A refresh token is `<family id>.<secret>`: the family (one chain of rotated tokens) is found by the
// id, and only the hash of the whole token is stored.

export function newRefreshToken(): { familyId: string; token: string } {
  const familyId = randomToken(12);
  return { familyId, token: `${familyId}.${randomToken()}` };
}

/** The next token of a family, on rotation. */
export const nextRefreshToken = (familyId: string) => `${familyId}.${randomToken()}`;

export const familyIdOf = (token: string) => token.split('.')[0]!;

/** The refresh-token family a presented token belongs to, if it is one of `clientId`'s (current or superseded). */
export function presentedFamily(store: OAuthStore, token: string, clientId: string): { id: string; record: FamilyRecord } | null {
  const id = familyIdOf(token);
  const record = token.includes('.') && id.length < 64 ? store.family(id) : undefined;
  if (!record || record.clientId !== clientId) return null;
  const hash = sha256(token);
  return record.current === hash || record.used.includes(hash) ? { id, record } : null;
}
