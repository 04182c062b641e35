import { stop, transform, type TransformFailure, type TransformResult } from 'esbuild';
import { ReplSyntaxError } from './repl-transform.ts';

/**
 * The TypeScript compiler could not handle this cell: it crashed on it or ran past its time. The
 * cell ran nothing, and the compiler is ready again for the next one.
 */
export class CompilerFailure extends Error {
  override readonly name = 'CompilerFailure';
}

// esbuild's parser recurses once per nesting level on a 1 GB goroutine stack: ~150,000 nested
// parentheses, assignments or prefix operators crash its process, and 50,000 nested arrow functions
// took 55 s (measured with esbuild 0.28.2). Brackets are refused before they reach it; whatever
// else is too deep is caught by the time limit or the crash.
const MAX_BRACKET_DEPTH = 1000;
// The service's stderr is this process's: a crash would dump a million stack frames into the log.
// Go reads this when the service starts (it is spawned on the first transform, and after a crash).
process.env.GOTRACEBACK ??= 'none';
const COMPILE_TIMEOUT_MS = 10_000;

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
  checkBracketDepth(source);
  let result;
  try {
    result = await isolatedTransform(source, filename);
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

/**
 * One transform on esbuild's shared service, which a single cell can crash (every request in flight
 * then fails with "The service was stopped") or keep busy. A crash restarts the service (`stop()`
 * makes the next call spawn a new one) and the cells that were in flight are tried again, one at a
 * time, so only the cell that crashes it again fails, with its own error.
 */
async function isolatedTransform(source: string, filename: string): Promise<TransformResult> {
  try {
    return await boundedTransform(source, filename);
  } catch (err) {
    if (!(err instanceof ServiceLost)) throw err;
  }
  const retry = retries.then(() => boundedTransform(source, filename));
  retries = retry.then(
    () => undefined,
    () => undefined,
  );
  try {
    return await retry;
  } catch (err) {
    if (err instanceof ServiceLost) throw new CompilerFailure(`The TypeScript compiler crashed on this cell (nesting too deep?); simplify it`);
    throw err;
  }
}

let retries: Promise<void> = Promise.resolve();

class ServiceLost extends Error {}

async function boundedTransform(source: string, filename: string): Promise<TransformResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Stopping the service is the only way to stop its work on this cell.
      void stop();
      reject(new CompilerFailure(`Compiling this TypeScript cell took longer than ${COMPILE_TIMEOUT_MS / 1000} s (nesting too deep?); simplify it`));
    }, COMPILE_TIMEOUT_MS);
  });
  try {
    // verbatimModuleSyntax: an import whose bindings only later cells use is still an import (esbuild
    // would drop it as unused); `import type` is still removed.
    const options = { loader: 'ts', target: 'esnext', sourcemap: 'external', sourcefile: filename, tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true } } } as const;
    return await Promise.race([transform(source, options), timeout]);
  } catch (err) {
    if (err instanceof Error && !('errors' in err) && /The service (was stopped|is no longer running)/.test(err.message)) {
      void stop();
      throw new ServiceLost(err.message);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Refuses brackets nested deeper than esbuild can parse; strings, templates and comments are skipped. */
function checkBracketDepth(source: string): void {
  let depth = 0;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\n') {
      line++;
      lineStart = i + 1;
    } else if (c === '(' || c === '[' || c === '{') {
      if (++depth > MAX_BRACKET_DEPTH) {
        throw new ReplSyntaxError(`Brackets nested deeper than ${MAX_BRACKET_DEPTH} levels`, line, i - lineStart + 1);
      }
    } else if (c === ')' || c === ']' || c === '}') {
      depth = Math.max(0, depth - 1);
    } else if (c === '"' || c === "'") {
      for (i++; i < source.length && source[i] !== c && source[i] !== '\n'; i++) if (source[i] === '\\') i++;
    } else if (c === '`') {
      // A template's `${…}` is skipped with it: brackets nested in one are rarely deep.
      for (i++; i < source.length && source[i] !== '`'; i++) if (source[i] === '\\') i++;
    } else if (c === '/' && source[i + 1] === '/') {
      while (i < source.length && source[i] !== '\n') i++;
      i--;
    } else if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      i = end < 0 ? source.length : end + 1;
    }
  }
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
