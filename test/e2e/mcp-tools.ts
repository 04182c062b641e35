import { expect } from 'vitest';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

type Structured = Record<string, unknown> & { execution_id: string; status: string; heap: string | null };

/** Calls a tool and returns its structuredContent, checking the text block carries the same JSON. */
export async function call(client: Client, name: string, args: Record<string, unknown>) {
  const res = await client.callTool({ name, arguments: args });
  const text = (res.content as Array<{ type: string; text: string }>)[0]!.text;
  if (res.structuredContent) expect(JSON.parse(text)).toEqual(res.structuredContent);
  return { isError: res.isError === true, text, out: res.structuredContent as Structured };
}
