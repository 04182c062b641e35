import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { HostCallAnswer, HostCallJson } from '../sandbox/index.ts';

/**
 * A tool's answer as the sandbox receives it (see runtime/mcp.js): `{ value }` with the
 * structuredContent when there is one, else `{ content }`: the text blocks joined, or, when other
 * blocks are there, every block in order, binary ones as `{ type, mimeType, offset, length }` into the
 * answer's bytes. An `isError` answer is `{ toolError: { message, content } }`.
 */
export function sandboxAnswer(server: string, tool: string, result: CallToolResult): HostCallAnswer {
  const chunks: Buffer[] = [];
  let size = 0;
  const binary = (base64: string) => {
    const bytes = Buffer.from(base64, 'base64');
    const at = { offset: size, length: bytes.byteLength };
    chunks.push(bytes);
    size += bytes.byteLength;
    return at;
  };
  const blocks = Array.isArray(result.content) ? result.content : [];
  const parts: HostCallJson[] = blocks.map((block): HostCallJson => {
    switch (block.type) {
      case 'text':
        return block.text;
      case 'image':
      case 'audio':
        return { type: block.type, mimeType: block.mimeType, ...binary(block.data) };
      case 'resource': {
        const r = block.resource;
        if ('text' in r && typeof r.text === 'string') return { type: 'resource', uri: r.uri, ...(r.mimeType ? { mimeType: r.mimeType } : {}), text: r.text };
        return { type: 'resource', uri: r.uri, mimeType: r.mimeType ?? 'application/octet-stream', ...binary(String((r as { blob?: unknown }).blob ?? '')) };
      }
      case 'resource_link':
        return { type: 'resource_link', uri: block.uri, name: block.name, ...(block.mimeType ? { mimeType: block.mimeType } : {}), ...(block.description ? { description: block.description } : {}) };
      default:
        return { type: String((block as { type?: unknown }).type) };
    }
  });
  const content: HostCallJson = parts.every((p) => typeof p === 'string') ? parts.join('\n') : parts;
  const bytes = size > 0 ? new Uint8Array(Buffer.concat(chunks, size)) : null;
  if (result.isError === true) {
    const text = typeof content === 'string' ? content : parts.filter((p) => typeof p === 'string').join('\n');
    const message = `${server}.${tool} failed${text !== '' ? `: ${text.length > 500 ? `${text.slice(0, 500)}…` : text}` : ''}`;
    return { answer: { toolError: { message, content } }, bytes };
  }
  if (result.structuredContent !== undefined) return { answer: { value: result.structuredContent as HostCallJson } };
  return { answer: { content }, bytes };
}
