import type Koa from 'koa';
import type { AuthorizationServerParts, User } from './authorization-server.ts';
import type { Client } from './client-registry.ts';
import { TICKET_TTL_SECS } from './consent-ticket.ts';
import {
  AccessDeniedError,
  InvalidRequestError,
  InvalidTargetError,
  OAuthError,
  UnsupportedResponseTypeError,
} from './oauth-errors.ts';
import { formOf, singleValued, type Form } from './oauth-params.ts';
import { checkChallenge } from './pkce.ts';
import { wrongResource } from './protected-resource.ts';
import { narrowScope } from './scopes.ts';
import { burnPasswordCheck, randomToken, sha256, verifySecret } from './secrets.ts';
import {
  csrfMatches,
  issueCsrf,
  renderConsent,
  renderError,
  renderSignIn,
  sendPage,
  type AuthorizationRequest,
  type PageView,
} from './sign-in-page.ts';

/** A client or redirect URI we cannot trust: answered with a page, never a redirect (RFC 6749 §4.1.2.1). */
class UntrustedRedirect extends Error {}

/** An error to report to the client at its (validated) redirect URI. */
class RedirectedError extends Error {
  readonly error: OAuthError;
  readonly redirectUri: string;
  readonly state: string | undefined;
  constructor(
    error: OAuthError,
    redirectUri: string,
    state: string | undefined,
  ) {
    super(error.message);
    this.error = error;
    this.redirectUri = redirectUri;
    this.state = state;
  }
}

export type AuthorizeParts = Pick<
  AuthorizationServerParts,
  'issuer' | 'resource' | 'store' | 'clients' | 'tickets' | 'users' | 'lifetimes' | 'nowSecs' | 'signInBackoff'
>;

/**
 * `/oauth/authorize`, the part a person sees in a browser: GET shows the sign-in page for a checked
 * authorization request; the sign-in form's POST checks the password (throttled per account) and
 * shows the consent page with a signed ticket; the consent POST spends the ticket and issues a code
 * (both in one replicated command), then redirects back to the client.
 */
export class AuthorizeEndpoint {
  private readonly users: Map<string, User>;

  private readonly p: AuthorizeParts;
  constructor(p: AuthorizeParts) {
    this.p = p;
    this.users = new Map(p.users.map((u) => [u.username, u]));
  }

  async page(ctx: Koa.Context): Promise<void> {
    let query: Form;
    try {
      query = singleValued(ctx.query, (m) => new UntrustedRedirect(m));
    } catch (err) {
      return sendPage(ctx, 400, renderError(err instanceof Error ? err.message : 'malformed request'));
    }
    await this.p.store.sync(); // the client may have registered on another node a moment ago
    await this.withAuthorizationRequest(ctx, query, async (client, request) => {
      sendPage(ctx, 200, renderSignIn(this.view(ctx, client, request)));
    });
  }

  async submit(ctx: Koa.Context): Promise<void> {
    let form: Form;
    try {
      form = await formOf(ctx, (message) => new UntrustedRedirect(message));
    } catch (err) {
      return sendPage(ctx, 400, renderError(err instanceof Error ? err.message : 'malformed request'));
    }
    if (!csrfMatches(ctx, form.csrf)) {
      return sendPage(ctx, 403, renderError('This form has expired or was not sent by the raftbox sign-in page. Start again from the application.'));
    }
    await this.p.store.sync();
    await this.withAuthorizationRequest(ctx, form, async (client, request) => {
      const view = this.view(ctx, client, request);
      if (form.step === 'signin') {
        const waitMs = this.p.signInBackoff.waitMs(`user:${form.username ?? ''}`);
        if (waitMs > 0) {
          ctx.set('Retry-After', String(Math.ceil(waitMs / 1000)));
          const error = `Too many wrong passwords for this account. Wait ${Math.ceil(waitMs / 1000)} s and try again.`;
          return sendPage(ctx, 429, renderSignIn({ ...view, error }));
        }
        const subject = await this.signIn(form.username, form.password);
        if (!subject) return sendPage(ctx, 401, renderSignIn({ ...view, error: 'Wrong username or password.' }));
        const ticket = await this.p.tickets.issue(subject, request);
        return sendPage(ctx, 200, renderConsent({ ...view, subject, ticket }));
      }
      if (form.step !== 'consent') throw new InvalidRequestError('unknown step');
      const subject = await this.p.tickets.subjectFor(form.ticket, request);
      if (!subject) return sendPage(ctx, 401, renderSignIn({ ...view, error: 'Your sign-in has expired. Sign in again.' }));
      if (form.decision !== 'allow') throw new AccessDeniedError('the user denied access');
      const code = randomToken();
      const issued = (await this.p.store.propose({
        type: 'oauth.issueCode',
        codeHash: sha256(code),
        code: {
          clientId: client.clientId,
          redirectUri: request.redirectUri,
          codeChallenge: request.codeChallenge,
          scope: request.scope,
          subject,
          expiresAt: this.p.nowSecs() + this.p.lifetimes.codeTtlSecs,
        },
        // Spent with the code it approves, on every node at once: a consent is given once.
        ticket: { hash: sha256(form.ticket!), expiresAt: this.p.nowSecs() + TICKET_TTL_SECS },
      })) as { ok: boolean };
      if (!issued.ok) return sendPage(ctx, 401, renderSignIn({ ...view, error: 'This consent was already given. Sign in again.' }));
      this.redirect(ctx, request.redirectUri, { code, state: request.state });
    });
  }

  /** Validates an authorization request (query or form), then runs `handle`; errors become a page or a redirect. */
  private async withAuthorizationRequest(
    ctx: Koa.Context,
    params: Form,
    handle: (client: Client, request: AuthorizationRequest) => Promise<void>,
  ): Promise<void> {
    try {
      const { client, request } = this.parseAuthorizationRequest(params);
      try {
        await handle(client, request);
      } catch (err) {
        if (err instanceof OAuthError) throw new RedirectedError(err, request.redirectUri, request.state);
        throw err;
      }
    } catch (err) {
      if (err instanceof UntrustedRedirect) return sendPage(ctx, 400, renderError(err.message));
      if (!(err instanceof RedirectedError)) throw err;
      this.redirect(ctx, err.redirectUri, { error: err.error.errorCode, error_description: err.error.message, state: err.state });
    }
  }

  private parseAuthorizationRequest(q: Form): { client: Client; request: AuthorizationRequest } {
    const client = q.client_id ? this.p.clients.find(q.client_id) : undefined;
    if (!client || !client.grantTypes.includes('authorization_code')) throw new UntrustedRedirect('Unknown client.');
    // Exact string match against a registered URI (OAuth 2.1 §4.1.1); never redirect to anything else.
    if (!q.redirect_uri || !client.redirectUris.includes(q.redirect_uri)) {
      throw new UntrustedRedirect('The redirect_uri is not registered for this client.');
    }
    const fail = (error: OAuthError) => new RedirectedError(error, q.redirect_uri!, q.state);
    try {
      if (q.response_type !== 'code') throw new UnsupportedResponseTypeError('response_type must be code');
      const codeChallenge = checkChallenge(q.code_challenge, q.code_challenge_method);
      const scope = q.scope === undefined || q.scope.trim() === '' ? client.scope : narrowScope(q.scope, client.scope);
      if (q.resource !== undefined && !this.p.resource.accepts(q.resource)) {
        throw new InvalidTargetError(wrongResource(q.resource, this.p.resource.resource));
      }
      const request: AuthorizationRequest = { clientId: client.clientId, redirectUri: q.redirect_uri, scope, codeChallenge };
      if (q.state !== undefined) request.state = q.state;
      if (q.resource !== undefined) request.resource = q.resource;
      return { client, request };
    } catch (err) {
      throw err instanceof OAuthError ? fail(err) : err;
    }
  }

  private view(ctx: Koa.Context, client: Client, request: AuthorizationRequest): PageView {
    return {
      clientName: client.clientName ?? client.clientId,
      redirectOrigin: new URL(request.redirectUri).origin,
      scopes: request.scope.split(' '),
      request,
      csrf: issueCsrf(ctx, this.p.issuer.startsWith('https:')),
    };
  }

  private async signIn(username: string | undefined, password: string | undefined): Promise<string | null> {
    if (!username || !password) return null;
    const user = this.users.get(username);
    let ok = false;
    if (user) ok = await verifySecret(password, user.passwordHash);
    else await burnPasswordCheck(password);
    // Unknown names are throttled like known ones, so the answer does not tell which exist.
    if (ok) this.p.signInBackoff.succeeded(`user:${username}`);
    else this.p.signInBackoff.failed(`user:${username}`);
    return ok ? (user!.subject ?? user!.username) : null;
  }

  private redirect(ctx: Koa.Context, redirectUri: string, params: Record<string, string | undefined>): void {
    const url = new URL(redirectUri);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    url.searchParams.set('iss', this.p.issuer); // RFC 9207: lets the client detect mix-up attacks
    ctx.status = ctx.method === 'POST' ? 303 : 302;
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(url.href);
  }
}
