import { jwtVerify, SignJWT } from 'jose';
import type { AuthorizationRequest } from './sign-in-page.ts';
import { sha256 } from './secrets.ts';
import { SIGNING_ALG, type SigningKeys } from './signing-keys.ts';

const TICKET_TYP = 'raftbox-consent+jwt';
export const TICKET_TTL_SECS = 600;

/**
 * Carries "this user signed in for this exact authorization request" from the sign-in POST to the
 * consent POST. Signed with the replicated keys, so the consent may be posted to any node; bound to
 * the request, so it cannot approve a different client, redirect, scope or PKCE challenge. Single
 * use: the code it approves is issued only if its hash is not yet spent (see `oauth.issueCode`).
 */
export class ConsentTickets {
  private readonly keys: SigningKeys;
  private readonly audience: string;
  private readonly nowSecs: () => number;
  constructor(
    keys: SigningKeys,
    audience: string,
    nowSecs: () => number,
  ) {
    this.keys = keys;
    this.audience = audience;
    this.nowSecs = nowSecs;
  }

  async issue(subject: string, request: AuthorizationRequest): Promise<string> {
    const { kid, key } = await this.keys.active();
    const now = this.nowSecs();
    return new SignJWT({ req: requestDigest(request) })
      .setProtectedHeader({ alg: SIGNING_ALG, typ: TICKET_TYP, kid })
      .setAudience(this.audience)
      .setSubject(subject)
      .setIssuedAt(now)
      .setExpirationTime(now + TICKET_TTL_SECS)
      .sign(key);
  }

  /** The subject the ticket was issued to, or null if it is forged, expired or for another request. */
  async subjectFor(ticket: string | undefined, request: AuthorizationRequest): Promise<string | null> {
    if (!ticket) return null;
    try {
      const { payload } = await jwtVerify(
        ticket,
        async (header) => {
          const key = header.kid ? await this.keys.verificationKey(header.kid) : undefined;
          if (!key) throw new Error('unknown key');
          return key;
        },
        { algorithms: [SIGNING_ALG], typ: TICKET_TYP, audience: this.audience, currentDate: new Date(this.nowSecs() * 1000) },
      );
      return payload.req === requestDigest(request) && payload.sub ? payload.sub : null;
    } catch {
      return null;
    }
  }
}

function requestDigest(r: AuthorizationRequest): string {
  return sha256(JSON.stringify([r.clientId, r.redirectUri, r.scope, r.state ?? null, r.codeChallenge, r.resource ?? null]));
}
