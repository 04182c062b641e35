// The reference documents generated from code, so they cannot drift: the configuration reference
// from the config schema, the MCP tools reference from the operations table, the OpenAPI document the
// typed client is generated from. `npm run docs` writes
// them; test/docs/reference.test.ts fails when a committed copy is out of date.
import { z } from 'zod';
import { OPERATIONS } from '../src/api/operations.ts';
import { openApiDocument } from '../src/api/openapi.ts';
import { ENV_PREFIX, SETTINGS } from '../src/config/index.ts';

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

${tools.join('\n')}`;
}

export const REFERENCE_DOCS = [
  { path: 'docs/configuration.md', render: configurationReference },
  { path: 'docs/mcp-tools.md', render: mcpToolsReference },
  // The typed client (clients/typescript) is generated from this copy: `npm run client`.
  { path: 'clients/typescript/openapi.json', render: () => `${JSON.stringify(openApiDocument(), null, 2)}\n` },
] as const;
