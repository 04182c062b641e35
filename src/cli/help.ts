import { SETTINGS, ENV_PREFIX, type Setting } from '../config/index.ts';
import { stdioRefusal } from './stdio-settings.ts';

const USAGE = {
  serve: `Usage: raftbox [serve] [options]

Starts a node: MCP at POST /mcp, REST at /api (OpenAPI at /api/openapi.json), the status page at /,
health at /healthz and /readyz. With --peers it is a member of a cluster (see docs/cluster.md).`,
  stdio: `Usage: raftbox stdio [options]

Serves the MCP tools over stdin/stdout to the one client that started it (logs go to stderr). It has no
HTTP port, so the HTTP, OAuth and cluster options of \`raftbox serve\` do not apply and are refused.`,
};

const SOURCES = `Every option can also be set as an environment variable (${ENV_PREFIX}<NAME>, shown below) or as a key of a
JSON file given with --config <path> (or ${ENV_PREFIX}CONFIG). Precedence: options > environment > file >
defaults. PORT is honoured as well. Secrets marked "file" can be read from a file instead:
--<option>-file <path> or ${ENV_PREFIX}<NAME>_FILE, which keeps them out of \`ps\` and the environment.
Unknown options, variables and keys are errors.`;

/** The --help text of `serve` or `stdio`, generated from the configuration schema so it never drifts from it. */
export function nodeHelp(which: 'serve' | 'stdio'): string {
  const applies = (s: Setting) => which === 'serve' || stdioRefusal(s) === null;
  const rows = SETTINGS.filter(applies).map((s) => {
    const arg = s.choices ? ` <${s.choices.join('|')}>` : s.kind === 'boolean' ? '' : s.kind === 'map' ? ' <key=value,...>' : s.kind === 'list' ? ' <a,b,...>' : s.kind === 'number' ? ' <n>' : ' <value>';
    const dflt = s.defaultValue === undefined || (typeof s.defaultValue === 'object' && Object.keys(s.defaultValue as object).length === 0)
      ? ''
      : ` (default: ${JSON.stringify(s.defaultValue)})`;
    const file = s.secretFile ? ` (file: --${s.flag}-file, ${s.env}_FILE)` : '';
    return `  --${s.flag}${arg}  [${s.env}]\n      ${s.description}${dflt}${file}`;
  });
  return `${USAGE[which]}\n\n${SOURCES}\n\nOptions:\n  --config <path>  JSON configuration file\n${rows.join('\n')}\n`;
}
