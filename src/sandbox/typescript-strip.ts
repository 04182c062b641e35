import { transform, type TransformFailure } from 'esbuild';
import { ReplSyntaxError } from './repl-transform.ts';

export interface StrippedTypeScript {
  code: string;
  /** Maps a 1-based line/column of `code` back to the TypeScript source. */
  toSource(line: number, column: number): { line: number; column: number };
}

/**
 * Types are removed by esbuild (a real TypeScript parser); its source map takes positions back.
 * The async API talks to esbuild's long-lived service; the sync one blocks the event loop ~1 ms.
 */
export async function stripTypes(source: string, filename: string): Promise<StrippedTypeScript> {
  let result;
  try {
    // verbatimModuleSyntax: an import whose bindings only later cells use is still an import (esbuild
    // would drop it as unused); `import type` is still removed.
    result = await transform(source, {
      loader: 'ts',
      target: 'esnext',
      sourcemap: 'external',
      sourcefile: filename,
      tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } },
    });
  } catch (err) {
    const first = (err as TransformFailure).errors?.[0];
    if (first?.location) {
      throw new ReplSyntaxError(first.text, first.location.line, first.location.column + 1);
    }
    throw err;
  }
  const lines = decodeMappings((JSON.parse(result.map) as { mappings: string }).mappings);
  return {
    code: result.code,
    toSource(line, column) {
      const segments = lines[line - 1];
      if (!segments || segments.length === 0) return { line, column };
      let best = segments[0]!;
      for (const s of segments) if (s.generatedColumn <= column - 1) best = s;
      return { line: best.sourceLine + 1, column: best.sourceColumn + 1 + Math.max(0, column - 1 - best.generatedColumn) };
    },
  };
}

interface Segment {
  generatedColumn: number;
  sourceLine: number;
  sourceColumn: number;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Source map v3 `mappings` (base64 VLQ), keeping only what position lookups need. */
function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let sourceLine = 0;
  let sourceColumn = 0;
  for (const lineText of mappings.split(';')) {
    const segments: Segment[] = [];
    let generatedColumn = 0;
    for (const segmentText of lineText.split(',')) {
      if (segmentText === '') continue;
      const fields = decodeVlq(segmentText);
      generatedColumn += fields[0]!;
      if (fields.length >= 4) {
        sourceLine += fields[2]!;
        sourceColumn += fields[3]!;
        segments.push({ generatedColumn, sourceLine, sourceColumn });
      }
    }
    lines.push(segments);
  }
  return lines;
}

function decodeVlq(text: string): number[] {
  const values: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of text) {
    const digit = BASE64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
    } else {
      values.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return values;
}
