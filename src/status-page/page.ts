/**
 * The status page shell. It carries no data (so it is public even with OAuth on): its script polls
 * `/status.json` every 2 s and builds the tables with `textContent` only, so a session name can never
 * become markup. Execution and session ids link to detail views (`#execution/<id>`, `#session/<name>`)
 * read from the REST API. Every time is shown one way: UTC, `YYYY-MM-DD HH:MM:SS`.
 *
 * With OAuth on, "Sign in" runs the authorization code flow with PKCE against the node's own
 * authorization server (a public client registered for this page's address, scope `raftbox:read`),
 * and keeps the access token in this tab's sessionStorage, sent as a bearer token, never in a URL.
 * Where that cannot work (an external provider, or a plain-http address that is not loopback, where
 * browsers offer no WebCrypto and the server registers no redirect), the operator can paste a token.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>raftbox status</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d2125; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
  table { border-collapse: collapse; min-width: 40rem; } th, td { text-align: left; padding: .25rem .7rem; border-bottom: 1px solid #ddd; }
  th { font-weight: 600; background: #f4f5f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .up { color: #14752f; font-weight: 600; } .down { color: #b3261e; font-weight: 600; }
  tr.down td { background: #fdecea; } #meta, .note { color: #555; } #error { color: #b3261e; }
  [hidden] { display: none !important; } code { font-size: 12px; }
  pre { background: #f4f5f7; padding: .5rem; max-height: 20rem; overflow: auto; white-space: pre-wrap; }
  #detail { border: 1px solid #ddd; padding: .2rem 1rem 1rem; margin-top: 1rem; }
</style>
</head>
<body>
<h1>raftbox cluster</h1>
<div id="meta">loading…</div>
<div id="error" role="alert"></div>
<div id="auth" hidden>
  <button id="signin" type="button">Sign in</button>
  <details id="paste"><summary>or paste an access token</summary>
    <form id="tokenform"><label>Access token (scope raftbox:read): <input id="token" type="password" autocomplete="off" size="40"></label>
    <button type="submit">Use token</button></form>
  </details>
</div>
<button id="signout" type="button" hidden>Sign out</button>
<section id="detail" hidden><p><a href="#">close</a></p><div id="detailbody"></div></section>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>state</th><th>role</th><th>term</th><th>commit</th><th>applied</th><th>leader's view</th><th>url</th></tr></thead><tbody></tbody></table>
<section id="upstreams-section" hidden>
<h2>Upstream MCP servers (as this node sees them)</h2>
<table id="upstreams"><thead><tr><th>server</th><th>transport</th><th>state</th><th>tools</th><th>connected (UTC)</th><th>last error</th></tr></thead><tbody></tbody></table>
</section>
<h2>Sessions</h2>
<p id="sessions-note" class="note" hidden></p>
<table id="sessions"><thead><tr><th>session</th><th>steps</th><th>updated (UTC)</th></tr></thead><tbody></tbody></table>
<h2>Recent executions</h2>
<p id="executions-note" class="note" hidden></p>
<table id="executions"><thead><tr><th>execution</th><th>status</th><th>node</th><th>session</th><th>ms</th><th>created (UTC)</th></tr></thead><tbody></tbody></table>
<script>
(() => {
  const KEY = 'raftbox-status-token';
  const PENDING = 'raftbox-status-signin';
  const $ = (id) => document.getElementById(id);
  const time = (iso) => (iso ? iso.replace('T', ' ').slice(0, 19) : null);
  const token = () => sessionStorage.getItem(KEY);
  const authHeaders = () => (token() ? { authorization: 'Bearer ' + token() } : {});
  const link = (text, hash) => { const a = document.createElement('a'); a.textContent = text; a.href = hash; return a; };
  const fill = (id, rows, cells, rowAttrs) => {
    const body = $(id).tBodies[0];
    body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement('tr');
      if (rowAttrs) rowAttrs(tr, row);
      for (const [value, cls] of cells(row)) {
        const td = document.createElement('td');
        if (value instanceof Node) td.append(value); else td.textContent = value == null ? '–' : String(value);
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }));
  };
  const note = (id, text) => { $(id).hidden = !text; $(id).textContent = text || ''; };

  // --- sign-in: authorization code + PKCE against this node's authorization server
  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const random = () => b64url(crypto.getRandomValues(new Uint8Array(32)));
  const redirectUri = location.origin + '/';
  // The built-in server (same origin): its metadata, and the page registers a client. An external
  // provider: the endpoints and the client the operator registered there, from this node.
  async function discover() {
    const prm = await (await fetch('/.well-known/oauth-protected-resource')).json();
    const issuer = prm.authorization_servers && prm.authorization_servers[0];
    if (!issuer) return null;
    if (new URL(issuer).origin === location.origin) return { as: await (await fetch('/.well-known/oauth-authorization-server')).json(), resource: prm.resource };
    const res = await fetch('/status-page/sign-in.json');
    if (!res.ok) return null; // no client for the page at the provider: paste a token
    const external = await res.json();
    return { as: external, clientId: external.client_id, resource: prm.resource };
  }
  async function register(as) {
    const reg = await fetch(as.registration_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [redirectUri], token_endpoint_auth_method: 'none', client_name: 'raftbox status page', scope: 'raftbox:read' }) });
    const client = await reg.json();
    if (!reg.ok) throw new Error(client.error_description || 'client registration refused');
    return client;
  }
  async function signIn() {
    try {
      const found = await discover();
      if (!found || !crypto.subtle) throw new Error('sign-in from this page needs the built-in authorization server, or a status-page client at the external provider (oauth.statusPageClientId), and https or a loopback address: paste a token instead');
      const client = found.clientId ? { client_id: found.clientId } : await register(found.as);
      const verifier = random();
      const state = random();
      const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
      sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, clientId: client.client_id, tokenEndpoint: found.as.token_endpoint }));
      const q = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: redirectUri, scope: 'raftbox:read', state,
        code_challenge: challenge, code_challenge_method: 'S256', resource: found.resource });
      location.assign(found.as.authorization_endpoint + '?' + q);
    } catch (e) {
      $('error').textContent = 'sign-in failed: ' + e.message;
      $('paste').open = true;
    }
  }
  async function finishSignIn() {
    const q = new URLSearchParams(location.search);
    if (!q.has('code') && !q.has('error')) return;
    history.replaceState(null, '', '/' + location.hash);
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
    sessionStorage.removeItem(PENDING);
    if (q.has('error')) { $('error').textContent = 'sign-in failed: ' + (q.get('error_description') || q.get('error')); return; }
    if (!pending || q.get('state') !== pending.state) { $('error').textContent = 'sign-in failed: the answer does not match this tab\\'s request'; return; }
    const res = await fetch(pending.tokenEndpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: q.get('code'), redirect_uri: redirectUri, client_id: pending.clientId, code_verifier: pending.verifier }) });
    const answer = await res.json();
    if (!res.ok) { $('error').textContent = 'sign-in failed: ' + (answer.error_description || answer.error); return; }
    sessionStorage.setItem(KEY, answer.access_token);
  }
  $('signin').addEventListener('click', signIn);
  $('signout').addEventListener('click', () => { sessionStorage.removeItem(KEY); refresh(); });
  $('tokenform').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $('token').value.trim());
    $('token').value = '';
    refresh();
  });

  // --- detail views: #execution/<id>, #session/<name>
  async function showDetail() {
    const m = /^#(execution|session)\\/(.+)$/.exec(location.hash);
    $('detail').hidden = !m;
    if (!m) return;
    const [, kind, id] = m;
    const body = $('detailbody');
    body.replaceChildren(Object.assign(document.createElement('p'), { textContent: 'loading ' + kind + ' ' + decodeURIComponent(id) + '…' }));
    const path = kind === 'execution' ? '/api/executions/' + id + '?include_code=true' : '/api/sessions/' + id;
    let res;
    try { res = await fetch(path, { headers: authHeaders(), cache: 'no-store' }); } catch { body.firstChild.textContent = 'this node does not answer'; return; }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { body.firstChild.textContent = kind + ' ' + decodeURIComponent(id) + ': ' + (data.message || 'HTTP ' + res.status); return; }
    const h = (text) => Object.assign(document.createElement('h2'), { textContent: text });
    const p = (text) => Object.assign(document.createElement('p'), { textContent: text });
    const pre = (text, cls) => Object.assign(document.createElement('pre'), { textContent: text, className: cls || '' });
    if (kind === 'execution') {
      const parts = [h('execution ' + data.execution_id), p(data.status + ' · node ' + data.node + ' · ' + (data.duration_ms == null ? '–' : data.duration_ms + ' ms') +
        ' · created ' + time(data.created_at) + ' UTC' + (data.completed_at ? ' · finished ' + time(data.completed_at) + ' UTC' : ''))];
      if (data.session) { const s = p('session '); s.append(link(data.session, '#session/' + encodeURIComponent(data.session)), data.step == null ? '' : ' step ' + data.step); parts.push(s); }
      parts.push(h('code' + (data.code_truncated ? ' (its first 16 KiB)' : '')), pre(data.code == null ? '(not recorded: this execution is older than records that keep code)' : data.code, 'code'));
      parts.push(h('console output'), pre(data.output || '(none)', 'output'));
      if (data.result_text != null) parts.push(h('result'), pre(data.result_text, 'result'));
      if (data.error) parts.push(h('error'), pre(data.error.stack || data.error.name + ': ' + data.error.message, 'error'));
      body.replaceChildren(...parts);
    } else {
      const parts = [h('session ' + data.name), p(data.steps + ' steps · heap ' + data.heap + ' · updated ' + time(data.updated_at) + ' UTC')];
      for (const step of data.journal) parts.push(p('step ' + step.step + ' (' + step.language + (step.threw ? ', threw' : '') + ') · ' + time(step.created_at) + ' UTC'), pre(step.code, 'code'));
      if (data.next_steps_cursor) parts.push(p('(later steps: see GET ' + path + '?steps_cursor=' + data.next_steps_cursor + ')'));
      body.replaceChildren(...parts);
    }
  }
  window.addEventListener('hashchange', showDetail);

  // --- the tables
  async function refresh() {
    let res;
    try {
      res = await fetch('/status.json', { headers: authHeaders(), cache: 'no-store' });
    } catch {
      $('error').textContent = 'this node does not answer';
      return;
    }
    if (res.status === 401 || res.status === 403) {
      $('auth').hidden = false;
      $('signout').hidden = true;
      $('meta').textContent = 'sign in to see the cluster';
      $('error').textContent = res.status === 401 ? (token() ? 'the access token was refused (expired?): sign in again' : '') : 'the token lacks the raftbox:read scope';
      return;
    }
    if (!res.ok) { $('error').textContent = 'status.json answered ' + res.status; return; }
    const s = await res.json();
    $('auth').hidden = true;
    $('signout').hidden = !token();
    $('error').textContent = '';
    const leader = s.cluster.leader ? s.cluster.leader.id : 'none';
    $('meta').textContent = 'seen from ' + s.node + ' (' + s.cluster.role + ', term ' + s.cluster.term + ') · leader ' + leader +
      ' · running ' + s.load.running + ', queued ' + s.load.queued + ' · ' + time(s.at) + ' UTC';
    const state = (m) => (m.up === null ? 'checking' : m.up ? 'up' : 'down');
    fill('nodes', s.members, (m) => [[m.id], [state(m), state(m)], [m.role], [m.term, 'num'], [m.commitIndex, 'num'], [m.appliedIndex, 'num'], [m.leaderView], [m.url]],
      (tr, m) => { tr.dataset.node = m.id; tr.dataset.state = state(m); tr.className = m.up === false ? 'down' : ''; });
    const upstreams = s.cluster.upstreams || [];
    $('upstreams-section').hidden = upstreams.length === 0;
    fill('upstreams', upstreams, (u) => [[u.name], [u.transport], [u.state], [u.tools, 'num'], [time(u.connectedAt)], [u.lastError]], (tr, u) => { tr.className = u.state === 'ready' ? '' : 'down'; });
    const unavailable = 'not readable from this node right now (no leader?); retrying';
    note('sessions-note', s.sessions ? '' : unavailable);
    note('executions-note', s.executions ? '' : unavailable);
    const sessionLink = (name) => (name == null ? null : link(name, '#session/' + encodeURIComponent(name)));
    if (s.sessions) fill('sessions', s.sessions, (x) => [[sessionLink(x.name)], [x.steps, 'num'], [time(x.updatedAt)]]);
    if (s.executions) fill('executions', s.executions, (x) => [[link(x.id, '#execution/' + encodeURIComponent(x.id))], [x.status], [x.node], [sessionLink(x.session)], [x.durationMs, 'num'], [time(x.createdAt)]]);
  }
  finishSignIn().finally(() => { refresh(); showDetail(); setInterval(refresh, 2000); });
})();
</script>
</body>
</html>
`;
