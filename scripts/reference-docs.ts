// The reference documents generated from code, so they cannot drift: the configuration reference
// from the config schema, the MCP tools reference from the operations table, the OpenAPI document the
// typed client is generated from. `npm run docs` writes
// them; test/docs/reference.test.ts fails when a committed copy is out of date.
import { z } from 'zod';
import { OPERATIONS } from '../src/api/operations.ts';
import { openApiDocument } from '../src/api/openapi.ts';
import { ENV_PREFIX, SETTINGS } from '../src/config/index.ts';
import { EXTENSIONS, LEGACY_REVISIONS, LIST_TTL_MS, MODERN_VERSIONS } from '../src/mcp/revision-2026-07-28.ts';
import { PACKAGES_URI } from '../src/mcp/package-catalog.ts';
import { TASK_AFTER_MS, TASK_POLL_MS } from '../src/mcp/tasks.ts';
import { PROGRESS_EVERY_MS } from '../src/mcp/progress.ts';
import { MAX_TASK_IDS } from '../src/mcp/task-subscriptions.ts';

const HEADER = (source: string, script: string) =>
  `<!-- Generated from ${source} by \`${script}\`; do not edit by hand. -->\n`;

const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ');

function shownDefault(value: unknown): string {
  if (value === undefined) return '—';
  if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return '—';
  return `\`${JSON.stringify(value)}\``;
}

export function configurationReference(): string {
  const rows = SETTINGS.map((s) => {
    const type = s.choices ? s.choices.map((c) => `\`${c}\``).join(' \\| ') : s.kind === 'map' ? 'id=value,…' : s.kind === 'list' ? 'a,b,…' : s.kind;
    const key = s.path.join('.');
    // The CPU-count default differs per machine: say what it is rather than this machine's number.
    const dflt = key === 'maxConcurrent' ? 'CPU cores' : shownDefault(s.defaultValue);
    return `| \`${key}\` | \`--${s.flag}\` | \`${s.env}\` | ${type} | ${dflt} | ${cell(s.description)} |`;
  });
  return `${HEADER('src/config/schema.ts', 'npm run docs')}
# Configuration reference

Every setting can be given as a command-line flag, as an environment variable, or as a key of a JSON
file passed with \`--config <path>\` (or \`${ENV_PREFIX}CONFIG\`); nested keys (\`oauth.*\`) are nested
objects in the file. Precedence: flags > environment > file > defaults; \`PORT\` is honoured just below
\`${ENV_PREFIX}PORT\`. Unknown flags, variables and keys are errors, never ignored. Maps are given as
\`id=value,id=value\` on the command line and in the environment, and as objects in the file.

| key | flag | environment | type | default | description |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}
`;
}

interface JsonSchema {
  type?: string | string[];
  enum?: unknown[];
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `${s.items ? typeOf(s.items) : 'any'}[]`;
  if (s.type === 'object' && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties)}`;
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
}

function fieldTable(schema: z.ZodObject, io: 'input' | 'output'): string {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  const required = new Set(json.required ?? []);
  const rows = Object.entries(json.properties ?? {}).map(
    ([name, p]) => `| \`${name}\` | ${typeOf(p)} | ${required.has(name) ? 'yes' : ''} | ${cell(p.description ?? '')} |`,
  );
  return rows.length === 0 ? '_none_\n' : `| field | type | required | description |\n| --- | --- | --- | --- |\n${rows.join('\n')}\n`;
}

/** Which MCP revisions `/mcp` and stdio serve, and what differs between them (from src/mcp/revision-2026-07-28.ts). */
function revisionsSection(): string {
  const list = (vs: readonly string[]) => vs.map((v) => `\`${v}\``).join(', ');
  return `## Protocol revisions

Served: ${list(MODERN_VERSIONS)} (modern: per-request metadata, no handshake) and ${list(LEGACY_REVISIONS)}
(legacy: \`initialize\` first). The revision is chosen per request, as 2026-07-28 says: a request carrying
\`io.modelcontextprotocol/protocolVersion\` in its \`_meta\` (or a modern \`MCP-Protocol-Version\` header) is
served statelessly at that revision by the v2 SDK (\`@modelcontextprotocol/server\`); \`initialize\` and every
request without that claim go to the v1 SDK (\`@modelcontextprotocol/sdk\` 1.32), exactly as before
2026-07-28. On stdio the opening message decides for the connection. \`server/discover\` and the
\`-32022\` UnsupportedProtocolVersion error list every served revision, newest first.

The tools, their arguments, answers and scopes are the same in every revision. What differs:

| | 2026-07-28 | 2025-11-25 and older |
| --- | --- | --- |
| opening | none: every request carries \`_meta\` \`io.modelcontextprotocol/protocolVersion\`, \`clientCapabilities\` (required, else \`-32602\`, HTTP 400) and \`clientInfo\` | \`initialize\`, then \`notifications/initialized\` |
| HTTP headers | \`MCP-Protocol-Version\`, \`Mcp-Method\` on every POST, \`Mcp-Name\` on \`tools/call\` (Base64 sentinel \`=?base64?…?=\` decoded); a missing or mismatching one is \`-32020\` HeaderMismatch, HTTP 400 | \`MCP-Protocol-Version\` after \`initialize\` (absent: 2025-03-26) |
| discovery | \`server/discover\`: versions, capabilities, instructions, \`serverInfo\` | the \`initialize\` result |
| results | \`resultType: "complete"\` and \`_meta\` \`io.modelcontextprotocol/serverInfo\` on every result | plain results |
| caching | \`tools/list\`, \`resources/list\`, \`resources/read\` and \`server/discover\` carry \`ttlMs: ${LIST_TTL_MS}\`, \`cacheScope: "public"\` (the tools and packages are the same for every caller; access is checked per call) | none |
| errors | unknown method: \`-32601\`, HTTP 404; unsupported revision: \`-32022\` with \`data.supported\`, HTTP 400 | unknown method: \`-32601\`, HTTP 200 |
| removed | \`ping\` and \`logging/setLevel\` answer \`-32601\`; an \`Mcp-Session-Id\` is ignored | \`ping\` answers |
| change notifications | \`subscriptions/listen\` (an SSE stream, a keep-alive comment every 15 s): acknowledged with an empty filter (unless it asks for task status pushes, see tasks), since the tool list and the documents and packages resources never change while a node runs and raftbox has no prompts (code mode's declarations, on a node with upstream servers, change with their tool lists and are read again on demand) | none (\`tools.listChanged: false\`; GET \`/mcp\` is 405) |
| extensions | \`capabilities.extensions\`: ${Object.keys(EXTENSIONS).length ? list(Object.keys(EXTENSIONS)) : 'none declared yet'} | none |
| tasks | the \`io.modelcontextprotocol/tasks\` extension (SEP-2663), for a client that declares it on the request: a \`run_js\` still running after its \`wait\` (default ${TASK_AFTER_MS / 1000} s; \`async: true\`: at once) is answered with a task (\`resultType: "task"\`); \`tasks/get\` (the result inlined once \`completed\`; a run that threw is \`completed\` with \`isError\`, a run lost with its node \`failed\`), \`tasks/update\` (nothing to take: raftbox never asks for input), \`tasks/cancel\` (acknowledged); status pushes: a \`subscriptions/listen\` whose filter has \`taskIds\` (at most ${MAX_TASK_IDS}) is acknowledged with those of the caller's tasks it found and gets a \`notifications/tasks\` with the whole task (result or error inlined) when each one ends, at once for one already ended; any node's stream hears any node's tasks | core tasks: the \`tasks\` capability (\`list\`, \`cancel\`, \`requests.tools.call\`), \`run_js\` with \`execution.taskSupport: "optional"\`; \`tools/call\` with \`task\` answers a CreateTaskResult at once; \`tasks/get\`, \`tasks/result\` (blocks until the end), \`tasks/list\` (the caller's), \`tasks/cancel\` (\`-32602\` once terminal); a run that threw or was lost is \`failed\`; no \`notifications/tasks/status\` (optional there, and stateless HTTP has no stream outside a request to carry it: poll \`tasks/get\` or block on \`tasks/result\`) |

Deprecated in 2026-07-28 and not offered in any revision: sampling, roots; raftbox never asks the client
for anything, so no request needs an \`InputRequiredResult\`.

Progress (every revision): a \`run_js\` whose \`_meta\` carries a \`progressToken\`, from a client that
accepts \`text/event-stream\`, is answered as an event stream: \`notifications/progress\` at least every
${PROGRESS_EVERY_MS / 1000} s while the run is queued or running (the message says which, on which node, how many console
lines so far, and what the run waits on: \`replaying N steps to rebuild the session's state\` while a node without the
session's warm isolate replays its journal, \`waiting on N host calls: fetch, mcp\` while calls are out), its console lines as \`notifications/message\` (logger \`console\`; \`log\`/\`info\` as
\`info\`, \`warn\` as \`warning\`), then the result, and nothing after it. 2025-11-25 filters the lines by
the level the caller set with \`logging/setLevel\` (kept per caller on each node: stateless HTTP has no
session; default \`info\`); 2026-07-28, where logging is deprecated but still defined, by the request's
own \`io.modelcontextprotocol/logLevel\` (none: no lines). Without a token: the plain JSON answer.
Cancelling a request (every revision): a \`notifications/cancelled\` naming its id (a POST of its own,
answered 202) reaches the node that holds the request, whichever node the balancer sent it to (one
that does not hold it replicates the cancel through the log, and the node that does aborts it), and
stops its run, which ends \`cancelled\` with the output it printed; the request's own POST then ends (2025-11-25: a \`-32800\` error the client no
longer waits for; 2026-07-28: HTTP 499). A notification naming another subject's request does nothing.
Closing the connection of a request cancels it the same way.

A task is an execution (task id = execution id), so any node answers for it, it belongs to the token's
subject, and it lasts as long as the execution record (\`ttl\`/\`ttlMs\`: null); poll interval
${TASK_POLL_MS / 1000} s.

`;
}

/** The MCP resources (src/mcp/package-catalog.ts) and what run_js's description adds per node. */
function resourcesSection(): string {
  return `## Resources

| URI | MIME type | scope | what |
| --- | --- | --- | --- |
| \`raftbox://docs/sandbox-api\` | \`text/markdown\` | \`raftbox:read\` | what the sandbox offers (docs/sandbox-api.md) |
| \`raftbox://docs/limits\` | \`text/markdown\` | \`raftbox:read\` | this server's caps on a run (memory, time, output, artifacts, inputs) |
| \`raftbox://docs/examples\` | \`text/markdown\` | \`raftbox:read\` | examples as run_js calls (docs/examples.md) |
| \`raftbox://docs/mcp-tools\` | \`text/markdown\` | \`raftbox:read\` | this reference |
| \`${PACKAGES_URI}\` | \`application/json\` | \`raftbox:read\` | the packages the sandbox can import, as \`list_packages\` answers: \`{packages, builtins}\`, each \`{name, version, hash}\` |
| \`raftbox://executions/{execution_id}/artifacts/{name}\` (template) | the artifact's | \`raftbox:read\` | an artifact of the caller's execution (the target of a large artifact's \`resource_link\`); text types as text, others as \`blob\` |

Served in every revision (\`resources/list\`, \`resources/templates/list\`, \`resources/read\`; capability \`resources: {listChanged: false}\`);
any other URI is \`-32602\` with \`data.uri\`. A node's \`tools/list\` also names its approved packages and
their versions at the end of \`run_js\`'s description (at most about 1,000 bytes of names; the rest are
counted and left to \`list_packages\`), so the description below is what a node without packages says.

`;
}

export function mcpToolsReference(): string {
  const tools = OPERATIONS.map(
    (op) => `## \`${op.tool}\`

${op.summary}. ${op.description}

Scope \`${op.scope}\` · REST \`${op.method.toUpperCase()} ${op.path}\`

Arguments:

${fieldTable(op.input, 'input')}
Result (\`structuredContent\`):

${fieldTable(op.output, 'output')}`,
  );
  return `${HEADER('src/api/operations.ts', 'npm run docs')}
# MCP tools reference

raftbox serves these tools at \`POST /mcp\` (Streamable HTTP, stateless) and over stdio
(\`raftbox stdio\`). Each is also a REST route under \`/api\` with the same arguments (path segments, query or
JSON body) and the same answer; \`GET /api/openapi.json\` describes those. With OAuth on, a tool needs
the scope shown (\`raftbox:run\` or \`raftbox:read\`). A tool answers \`structuredContent\` of the shape
below and the same JSON as text; a run that ended other than \`completed\` sets \`isError\`.

${revisionsSection()}${resourcesSection()}${tools.join('\n')}`;
}

export const REFERENCE_DOCS = [
  { path: 'docs/configuration.md', render: configurationReference },
  { path: 'docs/mcp-tools.md', render: mcpToolsReference },
  // The typed client (clients/typescript) is generated from this copy: `npm run client`.
  { path: 'clients/typescript/openapi.json', render: () => `${JSON.stringify(openApiDocument(), null, 2)}\n` },
] as const;
