import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { KeyRecord, OAuthStore } from './oauth-state.ts';

export const SIGNING_ALG = 'ES256';

export interface SigningKeyPolicy {
  /** A key older than this is replaced by a new one. */
  rotateAfterSecs: number;
  /** How long a replaced key stays published and accepted: at least the longest-lived token it signed. */
  retainSecs: number;
}

/**
 * ES256 keys kept in the replicated state, so every node signs and verifies with the same keys. The
 * first node that needs a key (or finds the active one due for rotation) generates one and proposes
 * it; a compare-and-set on the active kid makes concurrent proposals converge on one key.
 */
export class SigningKeys {
  private readonly imported = new Map<string, Promise<CryptoKey>>();
  private installing: Promise<void> | null = null;

  private readonly store: OAuthStore;
  private readonly policy: SigningKeyPolicy;
  private readonly nowSecs: () => number;
  constructor(
    store: OAuthStore,
    policy: SigningKeyPolicy,
    nowSecs: () => number,
  ) {
    this.store = store;
    this.policy = policy;
    this.nowSecs = nowSecs;
  }

  /** The key to sign with now, generating or rotating it through the log when needed. */
  async active(): Promise<{ kid: string; key: CryptoKey }> {
    let record = this.activeRecord();
    if (!record || record.createdAt + this.policy.rotateAfterSecs <= this.nowSecs()) {
      await this.install(record?.kid ?? null);
      record = this.activeRecord();
      if (!record) throw new Error('no signing key after install');
    }
    return { kid: record.kid, key: await this.load(record.kid, record.privateJwk) };
  }

  /** The public key for a kid we published, or undefined for a key we never issued (or already pruned). */
  async verificationKey(kid: string): Promise<CryptoKey | undefined> {
    const record = this.store.key(kid);
    if (!record) return undefined;
    if (record.retireUntil !== undefined && record.retireUntil <= this.nowSecs()) return undefined;
    return this.load(`${kid}#public`, record.publicJwk);
  }

  /** The JWKS document: the active key and every replaced key still within its retention. */
  jwks(): { keys: JWK[] } {
    const now = this.nowSecs();
    return {
      keys: this.store
        .keys()
        .filter((k) => k.retireUntil === undefined || k.retireUntil > now)
        .map((k) => ({ ...k.publicJwk, kid: k.kid, alg: SIGNING_ALG, use: 'sig' })),
    };
  }

  private activeRecord(): KeyRecord | undefined {
    const kid = this.store.activeKid();
    return kid ? this.store.key(kid) : undefined;
  }

  private install(expectActive: string | null): Promise<void> {
    // One generation per node at a time; other callers wait for it.
    this.installing ??= this.generateAndPropose(expectActive).finally(() => {
      this.installing = null;
    });
    return this.installing;
  }

  private async generateAndPropose(expectActive: string | null): Promise<void> {
    await this.store.sync();
    // Another node may have installed a key meanwhile: use it if it is the one we would have made.
    const current = this.activeRecord();
    if (current && current.kid !== expectActive && current.createdAt + this.policy.rotateAfterSecs > this.nowSecs()) return;
    const { privateKey, publicKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const now = this.nowSecs();
    await this.store.propose({
      type: 'oauth.installKey',
      key: { kid, privateJwk: await exportJWK(privateKey), publicJwk, createdAt: now },
      expectActive: current?.kid ?? null,
      retireUntil: now + this.policy.retainSecs,
    });
    // Win or lose the compare-and-set, the state now has an active key.
  }

  private load(cacheKey: string, jwk: JWK): Promise<CryptoKey> {
    let key = this.imported.get(cacheKey);
    if (!key) {
      key = importJWK(jwk, SIGNING_ALG) as Promise<CryptoKey>;
      this.imported.set(cacheKey, key);
    }
    return key;
  }
}
