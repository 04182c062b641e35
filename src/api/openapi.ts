import { z } from 'zod';
import { OPERATIONS, type Operation } from './operations.ts';
import { ErrorView } from './views.ts';
import { SCRIPT_TYPES } from '../http/app.ts';

type Json = Record<string, unknown>;

const schemaOf = (t: z.ZodType, io: 'input' | 'output'): Json => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(t, { io, unrepresentable: 'any' }) as Json;
  return rest;
};

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
  for (const op of OPERATIONS) {
    (paths[openApiPath(op.path)] ??= {})[op.method] = operationObject(op);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'raftbox',
      version: '0.1.0',
      description: 'Runs JavaScript/TypeScript for agents in isolated V8 sandboxes; the same operations are MCP tools at POST /mcp.',
    },
    paths,
    components: {
      schemas: { Error: schemaOf(ErrorView, 'output') },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Only when the server runs with OAuth.' } },
    },
  };
}

const joinText = (a: string | undefined, b: string) => (a ? `${a} ${b}` : b);

function operationObject(op: Operation): Json {
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
    const body = schemaOf(op.input.pick(Object.fromEntries(bodyKeys.map((k) => [k, true])) as Record<string, true>), 'input');
    const content: Json = { 'application/json': { schema: body } };
    if (bodyKeys.includes('code')) {
      for (const type of SCRIPT_TYPES) content[type] = { schema: { type: 'string', description: 'The script itself; other parameters go in the query string.' } };
    }
    out.requestBody = { required: bodyKeys.includes('code'), content };
  }
  return out;
}
