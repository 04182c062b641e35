import { z } from 'zod';
import { OPERATIONS, type Operation } from './operations.ts';
import { ARTIFACT_PATH, ARTIFACTS_PATH, ArtifactList } from './artifact-routes.ts';
import { ErrorView, ExecutionView, JournalStepView, SessionView } from './views.ts';
import { SCRIPT_LANGUAGES } from '../http/app.ts';

type Json = Record<string, unknown>;

/**
 * The shapes that get a name under `components.schemas`, so generated clients have types called
 * `Execution` or `SessionList` instead of anonymous inline objects. An operation's answer is named by
 * its tool; the records inside answers by what they are.
 */
const OUTPUT_NAMES: Record<string, string> = {
  run_js: 'Execution',
  get_execution_output: 'ExecutionOutput',
  list_executions: 'ExecutionList',
  list_sessions: 'SessionList',
  get_session: 'SessionDetail',
  delete_session: 'DeletedSession',
};
const INPUT_NAMES: Record<string, string> = { run_js: 'RunRequest' };

const schemaOf = (t: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(t, { io, unrepresentable: 'any' }) as Json;
  return rest;
};

/**
 * The named schemas of the document. Each operation's schemas are generated whole (with every
 * description), then any part that is exactly a named schema becomes a `$ref` to it.
 */
class Components {
  readonly schemas: Record<string, Json> = {};
  private readonly byText = new Map<string, string>();

  constructor() {
    this.name(ExecutionView, 'Execution', 'output');
    this.name(ExecutionView.shape.console.element, 'ConsoleLine', 'output');
    this.name(ExecutionView.shape.error.unwrap(), 'RunError', 'output');
    this.name(SessionView, 'Session', 'output');
    this.name(JournalStepView, 'JournalStep', 'output');
    this.name(ErrorView, 'Error', 'output');
    for (const op of OPERATIONS) if (OUTPUT_NAMES[op.tool]) this.name(op.output, OUTPUT_NAMES[op.tool]!, 'output');
  }

  name(t: z.ZodType, id: string, io: 'input' | 'output'): void {
    this.byText.set(JSON.stringify(schemaOf(t, io)), id);
  }

  of(t: z.ZodType, io: 'input' | 'output'): Json {
    return this.linked(schemaOf(t, io), null) as Json;
  }

  private linked(node: unknown, self: string | null): unknown {
    if (typeof node !== 'object' || node === null) return node;
    const id = this.byText.get(JSON.stringify(node));
    if (id !== undefined && id !== self) {
      this.schemas[id] ??= this.linked(node, id) as Json;
      return { $ref: `#/components/schemas/${id}` };
    }
    if (Array.isArray(node)) return node.map((x) => this.linked(x, null));
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, this.linked(v, null)]));
  }
}

/** `/api/executions/:execution_id` → `/api/executions/{execution_id}` */
export const openApiPath = (koaPath: string) => koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const errorStatuses: Record<string, string> = {
  '400': 'Invalid parameters or malformed body',
  '401': 'Missing or invalid bearer token (when OAuth is on)',
  '403': 'Token lacks the scope (when OAuth is on)',
  '404': 'No such execution or session',
  '409': 'Conflicts with the current state (e.g. a concurrent step on the session)',
  '413': 'Body larger than the server\'s cap',
  '422': 'Idempotency-Key already used for a different request',
  '429': 'Too many runs queued; retry after `Retry-After` seconds',
  '503': 'Not ready (no leader, catching up)',
};

/** The OpenAPI 3.1 document of the REST API, generated from the operations table's zod schemas. */
export function openApiDocument(): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const components = new Components();
  for (const op of OPERATIONS) {
    (paths[openApiPath(op.path)] ??= {})[op.method] = operationObject(op, components);
  }
  artifactPaths(paths, components);
  components.of(ErrorView, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'raftbox',
      version: '0.1.0',
      description: 'Runs JavaScript/TypeScript for agents in isolated V8 sandboxes; the same operations are MCP tools at POST /mcp.',
    },
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components.schemas).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when the server runs with OAuth.' } },
    },
  };
}

/** The REST-only artifact routes (src/api/artifact-routes.ts). */
function artifactPaths(paths: Record<string, Record<string, Json>>, components: Components): void {
  const executionId = { name: 'execution_id', in: 'path', required: true, schema: { type: 'string' } };
  const errors = (statuses: string[]) =>
    Object.fromEntries(statuses.map((s) => [s, { description: errorStatuses[s], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]));
  paths[openApiPath(ARTIFACTS_PATH)] = {
    get: {
      operationId: 'list_artifacts',
      summary: 'List an execution\'s artifacts',
      description: 'The files the code attached, with their media types, sizes and URLs (the same list is in the execution).',
      parameters: [executionId],
      responses: { '200': { description: 'The artifacts', content: { 'application/json': { schema: components.of(ArtifactList, 'output') } } }, ...errors(['401', '403', '404', '503']) },
    },
  };
  paths[openApiPath(ARTIFACT_PATH)] = {
    get: {
      operationId: 'get_artifact',
      summary: 'Get an artifact',
      description: 'The bytes of one artifact, served with its media type (and `Content-Security-Policy: sandbox`). Over MCP, images also come back as image content and any artifact as the resource `raftbox://executions/{execution_id}/artifacts/{name}`.',
      parameters: [executionId, { name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { '200': { description: 'The artifact\'s bytes', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } }, ...errors(['401', '403', '404', '503']) },
    },
  };
}

const joinText = (a: string | undefined, b: string) => (a ? `${a} ${b}` : b);

function operationObject(op: Operation, components: Components): Json {
  const pathKeys = [...op.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const shape = op.input.shape as Record<string, z.ZodType>;
  const inQuery = op.method !== 'post';
  const bodyKeys = Object.keys(shape).filter((k) => !pathKeys.includes(k));
  // The REST edge reads scalar arguments from the query string too (src/api/rest.ts), which a raw
  // script body needs; on a POST, `code` and objects (`tags`) only ever come in the body.
  const unwrap = (field: z.ZodType) => (field instanceof z.ZodOptional ? (field.def.innerType as z.ZodType) : field);
  const scalar = (field: z.ZodType) => !(unwrap(field) instanceof z.ZodRecord || unwrap(field) instanceof z.ZodObject);
  const parameters: Json[] = Object.entries(shape)
    .filter(([key, field]) => pathKeys.includes(key) || inQuery || (key !== 'code' && scalar(field)))
    .map(([key, field]) => ({
      name: key,
      in: pathKeys.includes(key) ? 'path' : 'query',
      required: pathKeys.includes(key),
      description: inQuery || pathKeys.includes(key) ? field.description : joinText(field.description, 'Also accepted in the query string (the body wins).'),
      schema: components.of(unwrap(field), 'input'),
    }));
  if (op.tool === 'run_js') {
    parameters.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      description: 'Makes retries safe: a later submit with the same key (1-256 characters) answers the first execution.',
      schema: { type: 'string', minLength: 1, maxLength: 256 },
    });
  }
  const ok = { description: op.summary, content: { 'application/json': { schema: components.of(op.output, 'output') } } };
  const responses: Json = { '200': ok };
  if (op.restStatus) responses['202'] = { description: 'Accepted, not finished yet: the current record', content: ok.content };
  const statuses = !inQuery && bodyKeys.length ? { ...errorStatuses, '415': `Body neither JSON${bodyKeys.includes('files') ? ', multipart/form-data' : ''} nor a raw script type` } : errorStatuses;
  for (const [status, description] of Object.entries(statuses).sort(([a], [b]) => a.localeCompare(b))) {
    responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
  }
  const out: Json = {
    operationId: op.tool,
    summary: op.summary,
    description: `${op.description}\n\nAlso the MCP tool \`${op.tool}\`.`,
    parameters,
    responses,
  };
  if (!inQuery && bodyKeys.length) {
    const bodySchema = op.input.pick(Object.fromEntries(bodyKeys.map((k) => [k, true])) as Record<string, true>);
    if (INPUT_NAMES[op.tool]) components.name(bodySchema, INPUT_NAMES[op.tool]!, 'input');
    const body = components.of(bodySchema, 'input');
    const content: Json = { 'application/json': { schema: body } };
    if (bodyKeys.includes('code')) {
      for (const [type, language] of Object.entries(SCRIPT_LANGUAGES)) {
        const as = language ? `, run as ${language} unless \`language\` says otherwise` : '';
        content[type] = { schema: { type: 'string', description: `The script itself${as}; other parameters go in the query string.` } };
      }
    }
    if (bodyKeys.includes('files')) content['multipart/form-data'] = multipartRunSchema(bodyKeys);
    out.requestBody = { required: bodyKeys.includes('code'), content };
  }
  return out;
}

/**
 * run_js as a form (src/api/multipart-run.ts): each file part is an input file named by its field, the
 * parameters are text fields, `inputs` and `tags` JSON text.
 */
function multipartRunSchema(bodyKeys: string[]): Json {
  const properties: Record<string, Json> = {};
  for (const key of bodyKeys) {
    if (key === 'files') continue;
    properties[key] =
      key === 'code'
        ? { type: 'string', description: 'The code, as a field or a file part (`-F code=@job.js`; a script media type names its language).' }
        : key === 'inputs' || key === 'tags'
          ? { type: 'string', contentMediaType: 'application/json', description: `The same object as in a JSON body, as JSON text${key === 'inputs' ? ' (it counts toward the per-run input cap)' : ''}.` }
          : { type: 'string', description: 'Text, read like the query parameter of the same name.' };
  }
  return {
    schema: {
      type: 'object',
      required: ['code'],
      properties,
      additionalProperties: { type: 'string', format: 'binary', description: 'An input file: the part\'s field name is its name in `inputs`, its Content-Type the file\'s type.' },
    },
    encoding: { inputs: { contentType: 'application/json' }, tags: { contentType: 'application/json' } },
  };
}
