#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance) against real raftbox
# nodes: once against a node without OAuth, once against a node with the built-in OAuth server, reached
# through a local proxy that adds a client_credentials bearer token (the suite's client cannot
# authenticate). Each node is run twice: every server scenario at the 2025-11-25 wire (initialize, the
# v1 SDK lane), and the 2026-07-28 requirement set (`--requirements 2026-07-28`: no handshake, per-request
# _meta, the v2 SDK lane) with the extension and pending scenarios it reports beside it. 0.2.0 is the
# first release line whose scenarios cover 2026-07-28. Not part of `npm test`.
#
# The suite needs Node 22; the npm package `node@22` provides it in a directory outside the repo
# (CONFORMANCE_DIR), so the system Node is untouched. Exits non-zero on any failure not listed in the
# revision's baseline, scripts/conformance-baseline.yml (2025-11-25) or
# scripts/conformance-baseline-2026-07-28.yml, or on a listed one that now passes.
#
#   scripts/conformance.sh            # both runs
#   scripts/conformance.sh plain      # only the node without OAuth
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=${CONFORMANCE_VERSION:-0.2.0-alpha.12}
DIR=${CONFORMANCE_DIR:-${TMPDIR:-/tmp}/raftbox-conformance}
MODES=${1:-plain oauth}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/raftbox-conformance-run.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$DIR"
if [ ! -x "$DIR/node_modules/.bin/node" ] || ! grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@modelcontextprotocol/conformance/package.json" 2>/dev/null; then
  # node@22's install script fetches the platform binary; newer npm runs it only when allowed.
  printf '{ "name": "raftbox-conformance", "private": true, "allowScripts": { "node": true } }\n' >"$DIR/package.json"
  (cd "$DIR" && npm install --no-audit --no-fund "node@22" "@modelcontextprotocol/conformance@$VERSION" >/dev/null)
fi
NODE22="$DIR/node_modules/.bin/node"
echo "conformance $VERSION on $("$NODE22" --version)"

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
wait_http() {
  for _ in $(seq 100); do curl -fs "$1" >/dev/null && return 0; sleep 0.2; done
  echo "no answer from $1" >&2
  return 1
}

# start_node <name> [serve flags...]: a node on a free port with its own data dir; sets PORT.
start_node() {
  local name=$1
  shift
  PORT=$(free_port)
  (cd "$REPO" && exec node --no-node-snapshot src/cli/main.ts serve --port "$PORT" --data-dir "$WORK/$name" --log-level warn "$@") >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$PORT/readyz"
}

# run_suite <name> <url>: both revisions against one endpoint; fails if either does.
run_suite() {
  local name=$1 url=$2 failed=0
  run_revision "$name/2025-11-25" "$url" conformance-baseline.yml --suite all --spec-version 2025-11-25 || failed=1
  run_revision "$name/2026-07-28" "$url" conformance-baseline-2026-07-28.yml --requirements 2026-07-28 || failed=1
  return $failed
}

run_revision() {
  local name=$1 url=$2 baseline=$3
  shift 3
  # checks.json per scenario, kept for reading why a scenario failed
  local out="$DIR/results/$name"
  echo "== $name: $url (checks in $out)"
  rm -rf "$out"
  (cd "$WORK" && "$NODE22" "$DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js" server \
    --url "$url" "$@" --expected-failures "$REPO/scripts/$baseline" -o "$out")
}

status=0
for mode in $MODES; do
  case $mode in
    plain)
      start_node plain
      run_suite plain "http://127.0.0.1:$PORT/mcp" || status=1
      ;;
    oauth)
      secret=$(node -e "console.log(require('crypto').randomBytes(24).toString('base64url'))")
      hash=$(printf %s "$secret" | node "$REPO/bin/raftbox.js" hash-password)
      start_node oauth --oauth --oauth-clients "conformance=$hash"
      node_port=$PORT
      # Unauthenticated, the node must answer 401 with the discovery challenge (the suite cannot do OAuth).
      curl -s -o /dev/null -D - -X POST "http://127.0.0.1:$node_port/mcp" | grep -i '^www-authenticate: Bearer resource_metadata=' >/dev/null \
        || { echo "oauth node: no 401 challenge on /mcp" >&2; status=1; }
      token=$(curl -fs -u "conformance:$secret" "http://127.0.0.1:$node_port/oauth/token" -d grant_type=client_credentials \
        | node -e "let s='';process.stdin.on('data',c=>s+=c).on('end',()=>console.log(JSON.parse(s).access_token))")
      proxy_port=$(free_port)
      # A pass-through proxy that adds the bearer token; Host and Origin reach the node unchanged.
      node -e "
        const http = require('node:http');
        const [port, target, token] = process.argv.slice(1);
        http.createServer((req, res) => {
          const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url,
            headers: { ...req.headers, authorization: 'Bearer ' + token } }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
          up.on('error', () => { res.writeHead(502); res.end(); });
          req.pipe(up);
        }).listen(port, '127.0.0.1');" "$proxy_port" "$node_port" "$token" &
      PIDS+=($!)
      wait_http "http://127.0.0.1:$proxy_port/healthz"
      run_suite oauth "http://127.0.0.1:$proxy_port/mcp" || status=1
      ;;
    *)
      echo "unknown mode $mode (plain, oauth)" >&2
      exit 2
      ;;
  esac
done
exit $status
