import { SETTINGS, ENV_PREFIX } from '../config/index.ts';

const USAGE = `raftbox — runs JavaScript/TypeScript for AI agents in isolated V8 sandboxes, over MCP and REST

Usage:
  raftbox [serve] [options]   start a node: MCP at POST /mcp, REST at /api, health at /healthz and /readyz
  raftbox stdio [options]     serve the MCP tools over stdin/stdout (logs go to stderr)
  raftbox cluster [--nodes 3] [--base-port 7101] [--lb-port 8080] [--lb-balance request|connection]
                  [--data-dir ./data] [serve options]
                              a local cluster: nodes n1..nN on consecutive ports as child processes, data in
                              <data-dir>/n1.., nginx on --lb-port when installed (round-robin per request, or
                              each client connection kept to one node); Ctrl-C stops all
  raftbox members list|add <id> <url>|remove <id> --via <node url> [--cluster-secret <s>]
                              show or change the membership (signed with the cluster secret; see docs/cluster.md)
  raftbox hash-password       read a password from stdin (or a prompt without echo) and print its scrypt hash,
                              for --oauth-users / --oauth-clients (see OAUTH.md)
  raftbox --help              this text

Every option can also be set as an environment variable (${ENV_PREFIX}<NAME>, shown below) or as a key of a
JSON file given with --config <path> (or ${ENV_PREFIX}CONFIG). Precedence: options > environment > file >
defaults. PORT is honoured as well. Unknown options, variables and keys are errors.

Options:
  --config <path>  JSON configuration file`;

/** The --help text, generated from the configuration schema so it never drifts from it. */
export function helpText(): string {
  const rows = SETTINGS.map((s) => {
    const arg = s.choices ? ` <${s.choices.join('|')}>` : s.kind === 'boolean' ? '' : s.kind === 'map' ? ' <key=value,...>' : s.kind === 'number' ? ' <n>' : ' <value>';
    const dflt = s.defaultValue === undefined || (typeof s.defaultValue === 'object' && Object.keys(s.defaultValue as object).length === 0)
      ? ''
      : ` (default: ${JSON.stringify(s.defaultValue)})`;
    return `  --${s.flag}${arg}  [${s.env}]\n      ${s.description}${dflt}`;
  });
  return `${USAGE}\n${rows.join('\n')}\n`;
}
