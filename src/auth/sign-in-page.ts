import type Koa from 'koa';
import { randomToken, constantTimeEqual } from './secrets.ts';

/** The authorization request as validated from the query (GET) or the form's hidden fields (POST). */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  scope: string;
  state?: string;
  codeChallenge: string;
  resource?: string;
}

export interface PageView {
  clientName: string;
  redirectOrigin: string;
  scopes: string[];
  request: AuthorizationRequest;
  csrf: string;
}

const SCOPE_TEXT: Record<string, string> = {
  'raftbox:run': 'Run JavaScript/TypeScript code, continue and delete your sessions, cancel your executions',
  'raftbox:read': 'Read your executions, their output, and your sessions',
};

export function renderSignIn(view: PageView & { error?: string }): string {
  return page(
    'Sign in',
    `<p><strong>${esc(view.clientName)}</strong> (${esc(view.redirectOrigin)}) wants to use raftbox on your behalf.</p>
${view.error ? `<p class="error" role="alert">${esc(view.error)}</p>` : ''}
<form method="post" action="/oauth/authorize">
${hiddenFields(view, 'signin')}
<label>Username <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`,
  );
}

export function renderConsent(view: PageView & { subject: string; ticket: string }): string {
  return page(
    'Allow access?',
    `<p>Signed in as <strong>${esc(view.subject)}</strong>.</p>
<p><strong>${esc(view.clientName)}</strong> will be sent back to <code>${esc(view.redirectOrigin)}</code> and may:</p>
<ul>${view.scopes.map((s) => `<li><code>${esc(s)}</code>: ${esc(SCOPE_TEXT[s] ?? s)}</li>`).join('')}</ul>
<form method="post" action="/oauth/authorize">
${hiddenFields(view, 'consent')}
<input type="hidden" name="ticket" value="${esc(view.ticket)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  );
}

/** Shown instead of redirecting when the client or redirect URI cannot be trusted (RFC 6749 §4.1.2.1). */
export function renderError(message: string): string {
  return page('Authorization failed', `<p class="error" role="alert">${esc(message)}</p>`);
}

/** Sends an HTML page that no other site may frame (clickjacking) and no cache keeps. */
export function sendPage(ctx: Koa.Context, status: number, html: string): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'");
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.body = html;
}

const CSRF_COOKIE = 'raftbox_oauth_csrf';

/**
 * Double-submit CSRF token: a random value in a SameSite=Strict cookie that the form must echo. It
 * needs no server-side state, so the POST may land on any node.
 */
export function issueCsrf(ctx: Koa.Context, secure: boolean): string {
  const existing = readCookie(ctx);
  if (existing) return existing;
  const token = randomToken();
  ctx.append(
    'Set-Cookie',
    `${CSRF_COOKIE}=${token}; Path=/oauth/authorize; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
  );
  return token;
}

export function csrfMatches(ctx: Koa.Context, formValue: string | undefined): boolean {
  const cookie = readCookie(ctx);
  return Boolean(cookie && formValue && constantTimeEqual(cookie, formValue));
}

function readCookie(ctx: Koa.Context): string | undefined {
  for (const part of (ctx.get('cookie') || '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === CSRF_COOKIE && value && /^[A-Za-z0-9_-]{43}$/.test(value)) return value;
  }
  return undefined;
}

function hiddenFields(view: PageView, step: 'signin' | 'consent'): string {
  const r = view.request;
  const fields: Record<string, string | undefined> = {
    step,
    csrf: view.csrf,
    response_type: 'code',
    client_id: r.clientId,
    redirect_uri: r.redirectUri,
    scope: r.scope,
    state: r.state,
    code_challenge: r.codeChallenge,
    code_challenge_method: 'S256',
    resource: r.resource,
  };
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${esc(v!)}">`)
    .join('\n');
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>raftbox · ${esc(title)}</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem}button{margin:.8rem .4rem 0 0;padding:.5rem 1rem}.error{color:#b00020}</style>
</head><body><h1>${esc(title)}</h1>
${body}
</body></html>`;
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
