// Renders the topology part of the load balancer config (raftbox-site.conf) and lays out a run directory
// for a non-root nginx, so `raftbox cluster --lb-port` and the deploy tests start nginx the same way.
// cluster/raftbox-site.conf and cluster/compose/raftbox-site.conf end with this function's output; a test
// keeps them in step.
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const clusterDir = dirname(fileURLToPath(import.meta.url));

export interface NginxSite {
  /** Upstream nodes as host:port, in round-robin order. */
  nodes: string[];
  /** The `listen` argument: a port, or address:port. */
  listen: string;
  /**
   * `session` (default): a request naming a session in the `Raftbox-Session` header (or the `session`
   * query parameter) goes to the node that session hashes to, so consecutive steps find its isolate
   * warm and current there; any other request goes to a node chosen per request. `request`: plain
   * per-request round robin. `connection`: a client connection keeps to one node (consistent hash of
   * its address and port). None of them is needed for correctness: any node continues any session.
   */
  balance?: LbBalance;
}

export type LbBalance = "session" | "request" | "connection";
export const LB_BALANCES: readonly LbBalance[] = [
  "session",
  "request",
  "connection",
];

export function renderNginxSite({
  nodes,
  listen,
  balance = "session",
}: NginxSite): string {
  if (nodes.length === 0)
    throw new Error("an nginx site needs at least one node");
  const servers = nodes.map(
    (node) => `    server ${node} max_fails=3 fail_timeout=2s;`,
  );
  return [
    ...(balance === "session" ? SESSION_HINT : []),
    "upstream raftbox_nodes {",
    ...BALANCING[balance],
    "    # Passive health checks: after 3 failed attempts within 2 s a node is left out for 2 s, then tried again.",
    ...servers,
    "    keepalive 64;",
    "}",
    "",
    "server {",
    `    listen ${listen};`,
    "    include raftbox-proxy.conf;",
    "}",
    "",
  ].join("\n");
}

/** How a balance spreads requests, in the words `raftbox cluster` and the benchmarks print. */
export function describeBalance(balance: LbBalance): string {
  return {
    session: 'a session stepped with its Raftbox-Session header stays on the node it hashes to; other requests spread per request',
    request: 'round-robin per request (no stickiness: consecutive steps of a session land on different nodes)',
    connection: 'each client connection kept to one node (a session stepped over one connection stays on its node)',
  }[balance];
}

// The hash key of `session` balancing: the session a request names, else the request's own random id
// (which spreads requests without a session like round robin does).
const SESSION_HINT = [
  "# A session step carries its session in the Raftbox-Session header or the session query parameter: it",
  "# is hashed to one node, where the session stays warm. Anything else is spread by its request id.",
  "map $http_raftbox_session $raftbox_session_hint {",
  '    "" $arg_session;',
  "    default $http_raftbox_session;",
  "}",
  "map $raftbox_session_hint $raftbox_affinity {",
  '    "" $request_id;',
  "    default $raftbox_session_hint;",
  "}",
  "",
];

const BALANCING: Record<LbBalance, string[]> = {
  session: [
    "    # Steps of one session land on one node (no replay of steps run elsewhere); a node that fails is",
    "    # skipped and its sessions continue on the others. Correctness needs no stickiness; this saves work.",
    "    hash $raftbox_affinity consistent;",
  ],
  request: [
    "    # No stickiness: any node continues any session and answers for any execution.",
  ],
  connection: [
    "    # Each client connection keeps to one node: a session stepped over one connection stays warm there",
    "    # (no replay of steps run elsewhere). Correctness needs no stickiness; this only saves work.",
    "    hash $remote_addr$remote_port consistent;",
  ],
};

/**
 * Copies nginx.conf and raftbox-proxy.conf into `dir`, writes the rendered raftbox-site.conf beside them,
 * and returns the nginx arguments that run it in the foreground with pid and temp files under `dir`.
 */
export function prepareNginxRunDir(dir: string, site: NginxSite): string[] {
  mkdirSync(dir, { recursive: true });
  // Started by root (CI is), nginx runs its workers as an unprivileged user, and they write request bodies
  // over 16 KiB to client_body_temp under `dir`: a 0700 directory from mkdtemp would turn those into 500s.
  chmodSync(dir, 0o755);
  for (const file of ["nginx.conf", "raftbox-proxy.conf"])
    copyFileSync(join(clusterDir, file), join(dir, file));
  writeFileSync(join(dir, "raftbox-site.conf"), renderNginxSite(site));
  return [
    "-p",
    dir,
    "-c",
    join(dir, "nginx.conf"),
    "-e",
    "stderr",
    "-g",
    "daemon off;",
  ];
}
