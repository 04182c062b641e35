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

function operationObject(op: Operation): Json {
  const pathKeys = [...op.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const shape = op.input.shape as Record<string, z.ZodType>;
  const inQuery = op.method !== 'post';
  const parameters = Object.entries(shape)
    .filter(([key]) => pathKeys.includes(key) || inQuery)
    .map(([key, field]) => ({
      name: key,
      in: pathKeys.includes(key) ? 'path' : 'query',
      required: pathKeys.includes(key),
      description: field.description,
      schema: schemaOf(field instanceof z.ZodOptional ? (field.def.innerType as z.ZodType) : field, 'input'),
    }));
  const bodyKeys = Object.keys(shape).filter((k) => !pathKeys.includes(k));
  const ok = { description: op.summary, content: { 'application/json': { schema: schemaOf(op.output, 'output') } } };
  const responses: Json = { '200': ok };
  if (op.restStatus) responses['202'] = { description: 'Accepted, not finished yet: the current record', content: ok.content };
  for (const [status, description] of Object.entries(errorStatuses)) {
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
