/**
 * The status page shell. It carries no data (so it is public even with OAuth on): its script polls
 * `/status.json` every 2 s and builds the tables with `textContent` only, so a session name can never
 * become markup. With OAuth on, the operator pastes a `raftbox:read` access token, kept in this tab's
 * sessionStorage and sent as a bearer token; it is never put in a URL.
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
  tr.down td { background: #fdecea; } #meta { color: #555; } #error { color: #b3261e; }
  #auth[hidden] { display: none; } code { font-size: 12px; }
</style>
</head>
<body>
<h1>raftbox cluster</h1>
<div id="meta">loading…</div>
<div id="error" role="alert"></div>
<form id="auth" hidden>
  <label>Access token (scope raftbox:read): <input id="token" type="password" autocomplete="off" size="40"></label>
  <button type="submit">Use token</button>
</form>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>state</th><th>role</th><th>term</th><th>commit</th><th>applied</th><th>leader's view</th><th>url</th></tr></thead><tbody></tbody></table>
<h2>Sessions</h2>
<table id="sessions"><thead><tr><th>session</th><th>steps</th><th>updated</th></tr></thead><tbody></tbody></table>
<h2>Recent executions</h2>
<table id="executions"><thead><tr><th>execution</th><th>status</th><th>node</th><th>session</th><th>ms</th><th>created</th></tr></thead><tbody></tbody></table>
<script>
(() => {
  const KEY = 'raftbox-status-token';
  const $ = (id) => document.getElementById(id);
  const fill = (id, rows, cells, rowAttrs) => {
    const body = $(id).tBodies[0];
    body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement('tr');
      if (rowAttrs) rowAttrs(tr, row);
      for (const [text, cls] of cells(row)) {
        const td = document.createElement('td');
        td.textContent = text == null ? '–' : String(text);
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }));
  };
  $('auth').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $('token').value.trim());
    $('token').value = '';
    refresh();
  });
  async function refresh() {
    const token = sessionStorage.getItem(KEY);
    let res;
    try {
      res = await fetch('/status.json', { headers: token ? { authorization: 'Bearer ' + token } : {}, cache: 'no-store' });
    } catch {
      $('error').textContent = 'this node does not answer';
      return;
    }
    if (res.status === 401 || res.status === 403) {
      $('auth').hidden = false;
      $('error').textContent = res.status === 401 ? 'an access token is required' : 'the token lacks the raftbox:read scope';
      return;
    }
    if (!res.ok) { $('error').textContent = 'status.json answered ' + res.status; return; }
    const s = await res.json();
    $('auth').hidden = true;
    $('error').textContent = '';
    const leader = s.cluster.leader ? s.cluster.leader.id : 'none';
    $('meta').textContent = 'seen from ' + s.node + ' (' + s.cluster.role + ', term ' + s.cluster.term + ') · leader ' + leader +
      ' · running ' + s.load.running + ', queued ' + s.load.queued + ' · ' + new Date(s.at).toLocaleTimeString();
    fill('nodes', s.members, (m) => [[m.id], [m.up ? 'up' : 'down', m.up ? 'up' : 'down'], [m.role], [m.term, 'num'], [m.commitIndex, 'num'], [m.appliedIndex, 'num'], [m.leaderView], [m.url]],
      (tr, m) => { tr.dataset.node = m.id; tr.dataset.state = m.up ? 'up' : 'down'; tr.className = m.up ? '' : 'down'; });
    fill('sessions', s.sessions || [], (x) => [[x.name], [x.steps, 'num'], [x.updatedAt]]);
    fill('executions', s.executions || [], (x) => [[x.id], [x.status], [x.node], [x.session], [x.durationMs, 'num'], [x.createdAt]]);
  }
  refresh();
  setInterval(refresh, 2000);
})();
</script>
</body>
</html>
`;
