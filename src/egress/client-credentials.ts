import { fetch as undiciFetch } from 'undici';
import { EgressRuleError } from './rules.ts';

/** A credential the host could not get: the message names the source, never a value. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
}

// A token is renewed this long before the authorization server says it expires.
const RENEW_BEFORE_MS = 30_000;
// When the server gives no `expires_in`.
const DEFAULT_LIFETIME_MS = 300_000;

/**
 * An OAuth 2.1 client-credentials token, `egress.oauthClients.<name>`, written
 * `<token endpoint URL> <client id> <client secret> [scope …]` (the secret may be `{env:NAME}` or
 * `{file:/path}`). The host asks the token endpoint (client_secret_basic) on first use and again
 * before the token expires; concurrent uses share one request. The endpoint is the operator's,
 * reached directly, not under the sandbox's egress rules.
 */
export class ClientCredentialsToken {
  #token: { value: string; renewAt: number } | null = null;
  #pending: Promise<string> | null = null;

  readonly #name: string;
  readonly #tokenUrl: URL;
  readonly #clientId: string;
  readonly #secret: () => string;
  readonly #scope: string;
  constructor(name: string, spec: string, resolve: (template: string, where: string) => () => string) {
    const [url, clientId, secret, ...scopes] = spec.trim().split(/\s+/);
    const where = `egress.oauthClients.${name}`;
    if (url === undefined || clientId === undefined || secret === undefined) {
      throw new EgressRuleError(`${where} must be "<token endpoint URL> <client id> <client secret> [scope …]" (the secret is not shown here)`);
    }
    try {
      this.#tokenUrl = new URL(url);
    } catch {
      throw new EgressRuleError(`${where}: ${url} is not a URL`);
    }
    this.#name = name;
    this.#clientId = clientId;
    this.#secret = resolve(secret, where);
    this.#scope = scopes.join(' ');
  }

  value(): Promise<string> {
    if (this.#token !== null && Date.now() < this.#token.renewAt) return Promise.resolve(this.#token.value);
    this.#pending ??= this.#request().finally(() => (this.#pending = null));
    return this.#pending;
  }

  async #request(): Promise<string> {
    const body = new URLSearchParams({ grant_type: 'client_credentials', ...(this.#scope ? { scope: this.#scope } : {}) });
    const basic = Buffer.from(`${encodeURIComponent(this.#clientId)}:${encodeURIComponent(this.#secret())}`).toString('base64');
    let answer: { access_token?: unknown; expires_in?: unknown };
    try {
      const res = await undiciFetch(this.#tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: body.toString(),
        signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new CredentialError(`the token endpoint of egress.oauthClients.${this.#name} answered ${res.status}`);
      answer = (await res.json()) as typeof answer;
    } catch (err) {
      if (err instanceof CredentialError) throw err;
      throw new CredentialError(`no token from egress.oauthClients.${this.#name} (${(err as Error).name})`);
    }
    if (typeof answer.access_token !== 'string') throw new CredentialError(`the token endpoint of egress.oauthClients.${this.#name} answered no access_token`);
    const lifetime = typeof answer.expires_in === 'number' ? answer.expires_in * 1000 : DEFAULT_LIFETIME_MS;
    this.#token = { value: answer.access_token, renewAt: Date.now() + Math.max(0, lifetime - RENEW_BEFORE_MS) };
    return answer.access_token;
  }
}
