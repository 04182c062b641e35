import type { ConsoleLine } from '../sandbox/index.ts';
import { invalidParams } from '../errors.ts';
import type { OutputPage } from './types.ts';

export interface OutputWindow {
  line?: { offset: number; limit: number };
  byte?: { offset: number; limit: number };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * An execution's console output as text (one line per console line; warnings and errors marked), cut
 * into a page by lines or by UTF-8 bytes, like MCP-V8's get_execution_output. A byte page never
 * splits a character: it ends early at the last whole one, and the next offset says where to resume.
 */
export function outputPage(console: readonly ConsoleLine[], window: OutputWindow): OutputPage {
  if (window.line && window.byte) throw invalidParams('page the output by lines or by bytes, not both');
  const lines = console.flatMap((l) => (l.level === 'log' || l.level === 'info' ? l.text : `[${l.level}] ${l.text}`).split('\n'));
  const text = lines.length > 0 ? lines.join('\n') + '\n' : '';
  const bytes = encoder.encode(text);
  const base = { totalLines: lines.length, totalBytes: bytes.length };

  if (window.byte) {
    const { offset, limit } = checked(window.byte, 'byte');
    let end = Math.min(bytes.length, offset + limit);
    while (end < bytes.length && end > offset && (bytes[end]! & 0xc0) === 0x80) end--; // not inside a character
    // A character longer than the limit is still handed out whole, or the client could never move on.
    if (end === offset && end < bytes.length) for (end++; end < bytes.length && (bytes[end]! & 0xc0) === 0x80; ) end++;
    const more = end < bytes.length;
    return { ...base, data: decoder.decode(bytes.subarray(offset, end)), nextLineOffset: null, nextByteOffset: more ? end : null, hasMore: more };
  }
  const { offset, limit } = checked(window.line ?? { offset: 0, limit: lines.length || 1 }, 'line');
  const page = lines.slice(offset, offset + limit);
  const more = offset + page.length < lines.length;
  return {
    ...base,
    data: page.length > 0 ? page.join('\n') + '\n' : '',
    nextLineOffset: more ? offset + page.length : null,
    nextByteOffset: null,
    hasMore: more,
  };
}

function checked(w: { offset: number; limit: number }, unit: string): { offset: number; limit: number } {
  if (!Number.isInteger(w.offset) || w.offset < 0) throw invalidParams(`${unit} offset must be a non-negative integer`);
  if (!Number.isInteger(w.limit) || w.limit < 1) throw invalidParams(`${unit} limit must be a positive integer`);
  return w;
}
