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
 * into a page by lines or by UTF-8 bytes, like MCP-V8's get_execution_output: every page says where
 * it starts and ends in both units. A byte page never splits a character: an offset inside one
 * starts at its first byte, the page ends early at the last whole one, and the next offset says
 * where to resume.
 */
export function outputPage(console: readonly ConsoleLine[], window: OutputWindow): OutputPage {
  if (window.line && window.byte) throw invalidParams('page the output by lines or by bytes, not both');
  const lines = console.flatMap((l) => (l.level === 'log' || l.level === 'info' ? l.text : `[${l.level}] ${l.text}`).split('\n'));
  const bytes = encoder.encode(lines.length > 0 ? lines.join('\n') + '\n' : '');
  // lineStarts[i]: byte offset where line i starts; lineStarts[lines.length] is the total.
  const lineStarts = [0];
  for (const line of lines) lineStarts.push(lineStarts[lineStarts.length - 1]! + encoder.encode(line).length + 1);
  const totals = { totalLines: lines.length, totalBytes: bytes.length };

  if (window.byte) {
    const { offset, limit } = checked(window.byte, 'byte');
    let start = Math.min(offset, bytes.length);
    // An offset inside a character starts at that character, so nothing is cut or skipped.
    while (start > 0 && start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start--;
    let end = Math.min(bytes.length, start + limit);
    while (end < bytes.length && end > start && (bytes[end]! & 0xc0) === 0x80) end--; // not inside a character
    // A character longer than the limit is still handed out whole, or the client could never move on.
    if (end === start && end < bytes.length) for (end++; end < bytes.length && (bytes[end]! & 0xc0) === 0x80; ) end++;
    const more = end < bytes.length;
    return {
      ...totals,
      data: decoder.decode(bytes.subarray(start, end)),
      // In lines, a byte page covers [line holding its first byte, lines it completes).
      startLine: linesEndedBy(lineStarts, start),
      endLine: linesEndedBy(lineStarts, end),
      startByte: start,
      endByte: end,
      nextLineOffset: null,
      nextByteOffset: more ? end : null,
      hasMore: more,
    };
  }
  const { offset, limit } = checked(window.line ?? { offset: 0, limit: lines.length || 1 }, 'line');
  const start = Math.min(offset, lines.length);
  const end = Math.min(lines.length, start + limit);
  const more = end < lines.length;
  return {
    ...totals,
    data: decoder.decode(bytes.subarray(lineStarts[start], lineStarts[end])),
    startLine: start,
    endLine: end,
    startByte: lineStarts[start]!,
    endByte: lineStarts[end]!,
    nextLineOffset: more ? end : null,
    nextByteOffset: null,
    hasMore: more,
  };
}

const linesEndedBy = (lineStarts: number[], byte: number) => lineStarts.filter((b, i) => i > 0 && b <= byte).length;

function checked(w: { offset: number; limit: number }, unit: string): { offset: number; limit: number } {
  if (!Number.isInteger(w.offset) || w.offset < 0) throw invalidParams(`${unit} offset must be a non-negative integer`);
  if (!Number.isInteger(w.limit) || w.limit < 1) throw invalidParams(`${unit} limit must be a positive integer`);
  return w;
}
