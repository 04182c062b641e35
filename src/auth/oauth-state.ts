import type { JWK } from 'jose';
import type { Command, CommandLog, Json, StateModule, Tx } from '../store/index.ts';

/**
 * The replicated OAuth state: the `oauth` module of the store. Every verdict that must be the same on
 * every node (a code redeemed once, a refresh token rotated once, a key installed once) is a
 * compare-and-set inside `apply`. Times are epoch seconds decided by the proposer and carried in the
 * command, so `apply` is a pure function of the state and the command.
 *
 * Keys: `client/<id>`, `code/<sha256(code)>`, `family/<id>`, `revoked/<jti>`, `key/<kid>`, `active-key`,
 * `ticket/<sha256(consent ticket)>` (a spent consent ticket, until it would have expired).
 * `assertion/<sha256(client id, jti)>` (a spent client assertion, until its `exp`).
 */

export type ClientRecord = {
  clientId: string;
  /** `sha256$…` for secrets we generated; absent for public clients. */
  secretHash?: string;
  authMethod: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** `private_key_jwt`: the public keys its client assertions are signed with (RFC 7591 `jwks`). */
  jwks?: { keys: Json[] };
  /** `private_key_jwt`: or where those keys are published (RFC 7591 `jwks_uri`), fetched when an assertion arrives. */
  jwksUri?: string;
  redirectUris: string[];
  grantTypes: string[];
  scope: string;
  clientName?: string;
  issuedAt: number;
};

export type IssuedAccess = { jti: string; exp: number };

export type CodeRecord = {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  subject: string;
  expiresAt: number;
  /** Set by the one redeem that won; a second redeem revokes what the first one got. */
  redeemed?: { familyId: string | null; access: IssuedAccess };
};

/** One chain of rotated refresh tokens. Only `current` is redeemable; presenting one of `used` means theft. */
export type FamilyRecord = {
  clientId: string;
  subject: string;
  scope: string;
  current: string;
  used: string[];
  expiresAt: number;
  /** Access tokens issued from this family that may still be live: revoked with it. */
  access: IssuedAccess[];
  revoked: boolean;
};

export type KeyRecord = {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: number;
  /** Once replaced, the key stays published (and accepted) until this time, then is pruned. */
  retireUntil?: number;
};

export type RedeemResult = { ok: true } | { ok: false; reason: 'unknown' | 'expired' | 'reused' };
export type RotateResult = { ok: true } | { ok: false; reason: 'unknown' | 'expired' | 'reused' | 'revoked' };

export type OAuthCommand =
  | { type: 'oauth.registerClient'; client: ClientRecord }
  /** `ticket`: the consent ticket that approved it, spent by this command (absent in older logs). */
  | { type: 'oauth.issueCode'; codeHash: string; code: CodeRecord; ticket?: { hash: string; expiresAt: number } }
  | { type: 'oauth.redeemCode'; codeHash: string; now: number; access: IssuedAccess; family: { id: string; refreshHash: string; expiresAt: number } | null }
  | { type: 'oauth.rotateRefresh'; familyId: string; presentedHash: string; nextHash: string; now: number; expiresAt: number; access: IssuedAccess }
  | { type: 'oauth.revokeFamily'; familyId: string; now: number }
  | { type: 'oauth.revokeAccess'; access: IssuedAccess }
  | { type: 'oauth.installKey'; key: KeyRecord; expectActive: string | null; retireUntil: number }
  | { type: 'oauth.prune'; now: number }
  /** A client assertion (RFC 7523) presented once: a second use of its jti is refused on every node. */
  | { type: 'oauth.spendAssertion'; hash: string; expiresAt: number };

/** How many superseded refresh tokens a family remembers for reuse detection. */
const MAX_USED = 64;

export const OAUTH_MODULE = 'oauth';

export const oauthStateModule: StateModule = {
  name: OAUTH_MODULE,
  apply(raw, tx) {
    const cmd = raw as unknown as OAuthCommand;
    switch (cmd.type) {
      case 'oauth.registerClient':
        if (tx.get(`client/${cmd.client.clientId}`)) return { ok: false, reason: 'exists' };
        tx.put(`client/${cmd.client.clientId}`, cmd.client);
        return { ok: true };
      case 'oauth.issueCode':
        if (cmd.ticket) {
          if (tx.get(`ticket/${cmd.ticket.hash}`) !== undefined) return { ok: false, reason: 'ticket_used' };
          tx.put(`ticket/${cmd.ticket.hash}`, cmd.ticket.expiresAt);
        }
        tx.put(`code/${cmd.codeHash}`, cmd.code);
        return { ok: true };
      case 'oauth.spendAssertion':
        if (tx.get(`assertion/${cmd.hash}`) !== undefined) return { ok: false, reason: 'used' };
        tx.put(`assertion/${cmd.hash}`, cmd.expiresAt);
        return { ok: true };
      case 'oauth.redeemCode':
        return redeemCode(cmd, tx);
      case 'oauth.rotateRefresh':
        return rotateRefresh(cmd, tx);
      case 'oauth.revokeFamily': {
        const family = tx.get(`family/${cmd.familyId}`) as FamilyRecord | undefined;
        if (family) revokeFamily(tx, cmd.familyId, family, cmd.now);
        return { ok: true };
      }
      case 'oauth.revokeAccess':
        tx.put(`revoked/${cmd.access.jti}`, cmd.access.exp);
        return { ok: true };
      case 'oauth.installKey':
        return installKey(cmd, tx);
      case 'oauth.prune':
        return prune(cmd.now, tx);
      default:
        return { ok: false, reason: `unknown command ${(cmd as { type: string }).type}` };
    }
  },
};

function redeemCode(cmd: Extract<OAuthCommand, { type: 'oauth.redeemCode' }>, tx: Tx): RedeemResult {
  const key = `code/${cmd.codeHash}`;
  const code = tx.get(key) as CodeRecord | undefined;
  if (!code) return { ok: false, reason: 'unknown' };
  if (code.redeemed) {
    // RFC 6749 §4.1.2: a code used twice is a sign of theft; what the first redeem got is revoked.
    tx.put(`revoked/${code.redeemed.access.jti}`, code.redeemed.access.exp);
    const familyId = code.redeemed.familyId;
    const family = familyId ? (tx.get(`family/${familyId}`) as FamilyRecord | undefined) : undefined;
    if (familyId && family) revokeFamily(tx, familyId, family, cmd.now);
    return { ok: false, reason: 'reused' };
  }
  if (code.expiresAt <= cmd.now) return { ok: false, reason: 'expired' };
  tx.put(key, { ...code, redeemed: { familyId: cmd.family?.id ?? null, access: cmd.access } });
  if (cmd.family) {
    const family: FamilyRecord = {
      clientId: code.clientId,
      subject: code.subject,
      scope: code.scope,
      current: cmd.family.refreshHash,
      used: [],
      expiresAt: cmd.family.expiresAt,
      access: [cmd.access],
      revoked: false,
    };
    tx.put(`family/${cmd.family.id}`, family);
  }
  return { ok: true };
}

function rotateRefresh(cmd: Extract<OAuthCommand, { type: 'oauth.rotateRefresh' }>, tx: Tx): RotateResult {
  const key = `family/${cmd.familyId}`;
  const family = tx.get(key) as FamilyRecord | undefined;
  if (!family) return { ok: false, reason: 'unknown' };
  if (family.revoked) return { ok: false, reason: 'revoked' };
  if (family.current === cmd.presentedHash) {
    if (family.expiresAt <= cmd.now) return { ok: false, reason: 'expired' };
    tx.put(key, {
      ...family,
      current: cmd.nextHash,
      used: [...family.used, family.current].slice(-MAX_USED),
      expiresAt: cmd.expiresAt,
      access: [...family.access.filter((a) => a.exp > cmd.now), cmd.access],
    });
    return { ok: true };
  }
  // A superseded token came back: either the client or a thief holds a copy, and we cannot tell which.
  if (family.used.includes(cmd.presentedHash)) {
    revokeFamily(tx, cmd.familyId, family, cmd.now);
    return { ok: false, reason: 'reused' };
  }
  return { ok: false, reason: 'unknown' };
}

function revokeFamily(tx: Tx, id: string, family: FamilyRecord, now: number): void {
  for (const a of family.access) if (a.exp > now) tx.put(`revoked/${a.jti}`, a.exp);
  tx.put(`family/${id}`, { ...family, revoked: true, access: [] });
}

function installKey(cmd: Extract<OAuthCommand, { type: 'oauth.installKey' }>, tx: Tx): Json {
  const active = (tx.get('active-key') as string | undefined) ?? null;
  // Two nodes may both decide a key is needed; the first install wins and the other adopts it.
  if (active !== cmd.expectActive) return { ok: false, active };
  if (active) {
    const old = tx.get(`key/${active}`) as KeyRecord | undefined;
    if (old) tx.put(`key/${active}`, { ...old, retireUntil: cmd.retireUntil });
  }
  tx.put(`key/${cmd.key.kid}`, cmd.key);
  tx.put('active-key', cmd.key.kid);
  return { ok: true, active: cmd.key.kid };
}

function prune(now: number, tx: Tx): Json {
  let removed = 0;
  const drop = (key: string) => {
    tx.del(key);
    removed++;
  };
  for (const [key, v] of tx.scan('code/')) if ((v as CodeRecord).expiresAt <= now) drop(key);
  for (const [key, v] of tx.scan('family/')) {
    const family = v as FamilyRecord;
    // A revoked family is kept while its tokens could still be presented, so reuse is still recognised.
    if (family.expiresAt <= now) drop(key);
  }
  for (const [key, v] of tx.scan('revoked/')) if ((v as number) <= now) drop(key);
  for (const [key, v] of tx.scan('ticket/')) if ((v as number) <= now) drop(key);
  for (const [key, v] of tx.scan('assertion/')) if ((v as number) <= now) drop(key);
  for (const [key, v] of tx.scan('key/')) {
    const retireUntil = (v as KeyRecord).retireUntil;
    if (retireUntil !== undefined && retireUntil <= now) drop(key);
  }
  return { ok: true, removed };
}

/** Read side of the state this module applies, as the local node sees it. */
export interface OAuthStateReader {
  get(module: string, key: string): Json | undefined;
  scan(module: string, prefix: string): Array<[string, Json]>;
}

/** Typed reads of the local applied OAuth state, and typed proposals through the command log. */
export class OAuthStore {
  private readonly state: OAuthStateReader;
  private readonly log: CommandLog;
  constructor(
    state: OAuthStateReader,
    log: CommandLog,
  ) {
    this.state = state;
    this.log = log;
  }

  client(id: string): ClientRecord | undefined {
    return this.state.get(OAUTH_MODULE, `client/${id}`) as ClientRecord | undefined;
  }
  code(codeHash: string): CodeRecord | undefined {
    return this.state.get(OAUTH_MODULE, `code/${codeHash}`) as CodeRecord | undefined;
  }
  family(id: string): FamilyRecord | undefined {
    return this.state.get(OAUTH_MODULE, `family/${id}`) as FamilyRecord | undefined;
  }
  isRevoked(jti: string): boolean {
    return this.state.get(OAUTH_MODULE, `revoked/${jti}`) !== undefined;
  }
  key(kid: string): KeyRecord | undefined {
    return this.state.get(OAUTH_MODULE, `key/${kid}`) as KeyRecord | undefined;
  }
  activeKid(): string | null {
    return (this.state.get(OAUTH_MODULE, 'active-key') as string | undefined) ?? null;
  }
  keys(): KeyRecord[] {
    return this.state.scan(OAUTH_MODULE, 'key/').map(([, v]) => v as KeyRecord);
  }
  /** True when something is due for pruning at `now`, so idle nodes propose nothing. */
  hasExpired(now: number): boolean {
    const expired = (prefix: string, at: (v: Json) => number | undefined) =>
      this.state.scan(OAUTH_MODULE, prefix).some(([, v]) => (at(v) ?? Infinity) <= now);
    return (
      expired('code/', (v) => (v as CodeRecord).expiresAt) ||
      expired('family/', (v) => (v as FamilyRecord).expiresAt) ||
      expired('revoked/', (v) => v as number) ||
      expired('ticket/', (v) => v as number) ||
      expired('assertion/', (v) => v as number) ||
      expired('key/', (v) => (v as KeyRecord).retireUntil)
    );
  }

  /** Makes everything committed before this call visible to the reads above (a code issued on another node). */
  sync(): Promise<void> {
    return this.log.linearizableRead();
  }

  propose(cmd: Extract<OAuthCommand, { type: 'oauth.redeemCode' }>): Promise<RedeemResult>;
  propose(cmd: Extract<OAuthCommand, { type: 'oauth.rotateRefresh' }>): Promise<RotateResult>;
  propose(cmd: OAuthCommand): Promise<Json | undefined>;
  propose(cmd: OAuthCommand): Promise<unknown> {
    return this.log.propose(cmd as unknown as Command);
  }
}
