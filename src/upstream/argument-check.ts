import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';

// Upstream schemas come in several dialects and with keywords of their own: check what Ajv knows,
// ignore the rest, never fetch a referenced schema.
const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false, loadSchema: undefined });
const validators = new WeakMap<Tool, ValidateFunction | null>();

/**
 * Why `args` do not fit the tool's input schema, or null when they do (or when the schema is one Ajv
 * cannot compile: then the upstream server is the only judge). Checked on the host before the call
 * goes out, so the upstream never sees arguments its own schema refuses.
 */
export function argumentRefusal(tool: Tool, args: unknown): string | null {
  let validate = validators.get(tool);
  if (validate === undefined) {
    const { $schema: _dialect, $id: _id, ...schema } = tool.inputSchema as Record<string, unknown>;
    try {
      validate = ajv.compile(schema);
      // Ajv caches by schema; tool lists are read again on every change, so the cache would only grow.
      ajv.removeSchema(schema);
    } catch {
      validate = null;
    }
    validators.set(tool, validate);
  }
  if (validate === null || validate(args)) return null;
  const e = validate.errors?.[0];
  if (e === undefined) return 'they do not match its input schema';
  const where = e.instancePath === '' ? 'the arguments' : `argument ${e.instancePath.slice(1).replaceAll('/', '.')}`;
  const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: unknown }).additionalProperty)})` : '';
  return `${where} ${e.message ?? 'do not match'}${extra}`;
}
