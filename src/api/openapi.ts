import { z } from 'zod';
import { OPERATIONS, type Operation } from './operations.ts';
import { ErrorView, ExecutionView, JournalStepView, SessionView } from './views.ts';
import { SCRIPT_TYPES } from '../http/app.ts';

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

function namedSchemas(): z.core.$ZodRegistry<{ id: string }> {
  const names = z.registry<{ id: string }>();
  const add = (schema: z.ZodType, id: string) => {
    if (!names.has(schema)) names.add(schema, { id });
  };
  add(ExecutionView, 'Execution');
  add(ExecutionView.shape.console.element, 'ConsoleLine');
  add(ExecutionView.shape.error.unwrap(), 'RunError');
  add(SessionView, 'Session');
  add(JournalStepView, 'JournalStep');
  add(ErrorView, 'Error');
  for (const op of OPERATIONS) if (OUTPUT_NAMES[op.tool]) add(op.output, OUTPUT_NAMES[op.tool]!);
  return names;
}

/** JSON Schemas of zod types whose named parts are collected into one `components.schemas`. */
class Components {
  readonly schemas: Record<string, Json> = {};
  private readonly names = namedSchemas();

  name(schema: z.ZodType, id: string): void {
    this.names.add(schema, { id });
  }

  /** The schema of `t`, with every named part (`t` itself included) a `$ref` into the components. */
  of(t: z.ZodType, io: 'input' | 'output'): Json {
    const { $schema: _ignored, $defs, ...rest } = z.toJSONSchema(t, { io, unrepresentable: 'any', metadata: this.names }) as Json;
    for (const [id, def] of Object.entries(($defs ?? {}) as Record<string, Json>)) this.schemas[id] ??= relinked(def);
    const id = this.names.get(t)?.id;
    if (id !== undefined && rest.$ref === undefined) {
      this.schemas[id] ??= relinked(rest);
      return { $ref: `#/components/schemas/${id}` };
    }
    return relinked(rest);
  }
}

const relinked = (schema: Json): Json => JSON.parse(JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/')) as Json;

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

const joinText = (a: string | undefined, b: string) => (a ? `${a} ${b}` : b);

function operationObject(op: Operation, components: Components): Json {
  const schemaOf = (t: z.ZodType, io: 'input' | 'output') => components.of(t, io);
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
      schema: schemaOf(unwrap(field), 'input'),
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
  const ok = { description: op.summary, content: { 'application/json': { schema: schemaOf(op.output, 'output') } } };
  const responses: Json = { '200': ok };
  if (op.restStatus) responses['202'] = { description: 'Accepted, not finished yet: the current record', content: ok.content };
  const statuses = !inQuery && bodyKeys.length ? { ...errorStatuses, '415': 'Body neither JSON nor a raw script type' } : errorStatuses;
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
    if (INPUT_NAMES[op.tool]) components.name(bodySchema, INPUT_NAMES[op.tool]!);
    const body = schemaOf(bodySchema, 'input');
    const content: Json = { 'application/json': { schema: body } };
    if (bodyKeys.includes('code')) {
      for (const type of SCRIPT_TYPES) content[type] = { schema: { type: 'string', description: 'The script itself; other parameters go in the query string.' } };
    }
    out.requestBody = { required: bodyKeys.includes('code'), content };
  }
  return out;
}
