import type { Applicability } from '../config/index.ts';

/**
 * `raftbox stdio` serves one MCP client over stdin/stdout: it has no HTTP port, so nothing of HTTP, OAuth
 * or the cluster can apply, and accepting such a setting would silently do nothing (`stdio --oauth`
 * would serve without authentication).
 */
const HTTP_ONLY = new Set(['host', 'port', 'metricsPublic', 'peers', 'clusterSecret', 'join', 'oauth', 'corsOrigins', 'exitWithStdin']);

export const stdioRefusal: Applicability = (setting) =>
  HTTP_ONLY.has(setting.path[0]!)
    ? 'does not apply to `raftbox stdio` (it serves one client over stdin/stdout: no HTTP, no OAuth, no cluster, and stdin is the protocol; use `raftbox serve`)'
    : null;
