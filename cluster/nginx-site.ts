// Renders the topology part of the load balancer config (raftbox-site.conf) and lays out a run directory
// for a non-root nginx, so `raftbox cluster --lb-port` and the deploy tests start nginx the same way.
// cluster/raftbox-site.conf and cluster/compose/raftbox-site.conf end with this function's output; a test
// keeps them in step.
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const clusterDir = dirname(fileURLToPath(import.meta.url));

export interface NginxSite {
  /** Upstream nodes as host:port, in round-robin order. */
  nodes: string[];
  /** The `listen` argument: a port, or address:port. */
  listen: string;
  /**
   * `request` (default): round-robin per request. `connection`: a client connection keeps to one node
   * (consistent hash of its address and port), so an agent on a keep-alive connection finds its
   * session warm and current where it lands; a new connection may land anywhere.
   */
  balance?: LbBalance;
}

export type LbBalance = 'request' | 'connection';

export function renderNginxSite({ nodes, listen, balance = 'request' }: NginxSite): string {
  if (nodes.length === 0) throw new Error('an nginx site needs at least one node');
  const servers = nodes.map((node) => `    server ${node} max_fails=3 fail_timeout=2s;`);
  const balancing =
    balance === 'connection'
      ? [
          '    # Each client connection keeps to one node: a session stepped over one connection stays warm there',
          '    # (no replay of steps run elsewhere). Correctness needs no stickiness; this only saves work.',
          '    hash $remote_addr$remote_port consistent;',
        ]
      : ['    # No stickiness: any node continues any session and answers for any execution.'];
  return [
    'upstream raftbox_nodes {',
    ...balancing,
    '    # Passive health checks: after 3 failed attempts within 2 s a node is left out for 2 s, then tried again.',
    ...servers,
    '    keepalive 64;',
    '}',
    '',
    'server {',
    `    listen ${listen};`,
    '    include raftbox-proxy.conf;',
    '}',
    '',
  ].join('\n');
}

/**
 * Copies nginx.conf and raftbox-proxy.conf into `dir`, writes the rendered raftbox-site.conf beside them,
 * and returns the nginx arguments that run it in the foreground with pid and temp files under `dir`.
 */
export function prepareNginxRunDir(dir: string, site: NginxSite): string[] {
  mkdirSync(dir, { recursive: true });
  // Started by root (CI is), nginx runs its workers as an unprivileged user, and they write request bodies
  // over 16 KiB to client_body_temp under `dir`: a 0700 directory from mkdtemp would turn those into 500s.
  chmodSync(dir, 0o755);
  for (const file of ['nginx.conf', 'raftbox-proxy.conf']) copyFileSync(join(clusterDir, file), join(dir, file));
  writeFileSync(join(dir, 'raftbox-site.conf'), renderNginxSite(site));
  return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'];
}
