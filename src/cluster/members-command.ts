// `raftbox members list|add|remove`: membership changes sent to any running node, signed with the
// cluster secret (see admin-auth.ts); the node forwards them to the leader.
import { parseArgs } from 'node:util';
import { ConfigError, readSecretFile } from '../config/index.ts';
import { adminSignature } from './admin-auth.ts';

const RETRY_FOR_MS = 30_000;
const USAGE = 'usage: raftbox members list|add <id> <url>|remove <id> --via <node url> [--cluster-secret-file <path>]';

export const MEMBERS_HELP = `${USAGE}

Shows or changes the membership of a running cluster through any of its nodes (it forwards to the
leader). Changes are signed with the cluster secret (see docs/cluster.md).

  list                   each member, its role and the leader's view of it
  add <id> <url>         add a node (started with --join) as a learner; it becomes a voter once caught up
  remove <id>            remove a member

Options:
  --via <url>                   a running node, e.g. http://127.0.0.1:7101
  --cluster-secret-file <path>  the cluster secret, read from a file [RAFTBOX_CLUSTER_SECRET_FILE]
  --cluster-secret <s>          the cluster secret itself (visible in \`ps\`: prefer the file) [RAFTBOX_CLUSTER_SECRET]
`;

export async function membersCommand(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: { via: { type: 'string' }, 'cluster-secret': { type: 'string' }, 'cluster-secret-file': { type: 'string' } }, allowPositionals: true });
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${USAGE}`);
  }
  const [action, id, url] = parsed.positionals;
  const via = parsed.values.via?.replace(/\/+$/, '');
  const secretFile = parsed.values['cluster-secret-file'] ?? env.RAFTBOX_CLUSTER_SECRET_FILE;
  const secret = parsed.values['cluster-secret'] ?? env.RAFTBOX_CLUSTER_SECRET ?? (secretFile ? readSecretFile(secretFile, '--cluster-secret-file') : undefined);
  if (!via) throw new ConfigError(`--via <url of a running node> is required\n${USAGE}`);
  let method: string;
  let path: string;
  let body = '';
  if (action === 'list' && !id) [method, path] = ['GET', '/cluster/status'];
  else if (action === 'add' && id && url) [method, path, body] = ['POST', '/cluster/members', JSON.stringify({ id, url })];
  else if (action === 'remove' && id && !url) [method, path] = ['DELETE', `/cluster/members/${encodeURIComponent(id)}`];
  else throw new ConfigError(USAGE);
  if (method !== 'GET' && !secret) throw new ConfigError(`membership changes need the cluster secret\n${USAGE}`);
  // A change may meet an election (503): it is safe to repeat (an applied step is skipped), so retry a while.
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    // `close`: a kept-alive connection would hold the process open for seconds after the answer.
    const headers: Record<string, string> = { connection: 'close', ...(body ? { 'content-type': 'application/json' } : {}) };
    if (method !== 'GET') Object.assign(headers, adminSignature(secret!, method, path, body));
    const res = await fetch(via + path, { method, headers, ...(body ? { body } : {}) });
    const text = await res.text();
    if (res.status === 503 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    (res.ok ? process.stdout : process.stderr).write(`${text}\n`);
    return res.ok ? 0 : 1;
  }
}
