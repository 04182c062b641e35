import { ReplSyntaxError, transformRepl } from './repl-transform.ts';
import { stripTypes } from './typescript-strip.ts';
import type { Language } from './types.ts';

export interface CompiledStep {
  /** What the isolate evaluates (see repl-transform.ts). */
  source: string;
  filename: string;
  /** Maps a 1-based position in `source` (as V8 reports it) to the user's code. */
  toUserPosition(line: number, column: number): { line: number; column: number };
  /** Module specifiers the cell names (see ReplProgram.modules). */
  modules: string[];
}

export { ReplSyntaxError as StepSyntaxError };

const CACHE_LIMIT = 512;
// Agents and benchmarks resend the same cells; parsing (and esbuild's round trip) is the costly part.
const cache = new Map<string, CompiledStep>();

/** Rejects with StepSyntaxError (name 'SyntaxError', 1-based line/column in the user's code). */
export async function compileStep(code: string, language: Language): Promise<CompiledStep> {
  const key = `${language}\0${code}`;
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit;
  }
  const compiled = language === 'ts' ? await compileTypeScriptOrPlain(code) : compileJavaScript(code);
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, compiled);
  return compiled;
}

function compileJavaScript(code: string): CompiledStep {
  const filename = 'step.js';
  const repl = transformRepl(code, filename);
  return {
    source: repl.source,
    filename,
    toUserPosition: (line, column) => repl.toSource(line, column),
    modules: repl.modules,
  };
}

/**
 * Most cells sent as TypeScript carry no types at all. Those run as they are: esbuild would also drop
 * expression statements it deems unused (`-1`, `1; -1`, `NaN` as a cell's completion value;
 * evanw/esbuild#3502), and skipping it saves its round trip.
 */
async function compileTypeScriptOrPlain(code: string): Promise<CompiledStep> {
  try {
    return compileJavaScript(code);
  } catch (err) {
    if (!(err instanceof ReplSyntaxError)) throw err;
    return compileTypeScript(code);
  }
}

async function compileTypeScript(code: string): Promise<CompiledStep> {
  const filename = 'step.ts';
  const stripped = await stripTypes(code, filename);
  let repl;
  try {
    repl = transformRepl(stripped.code, filename);
  } catch (err) {
    // esbuild accepted it but it is not a script (import/export, decorators…): acorn's position is in
    // esbuild's reformatted output, so it goes back to the TypeScript source the same way.
    if (!(err instanceof ReplSyntaxError)) throw err;
    const at = stripped.toSource(err.line, err.column);
    throw new ReplSyntaxError(err.message, at.line, at.column);
  }
  return {
    source: repl.source,
    filename,
    modules: repl.modules,
    toUserPosition: (line, column) => {
      const js = repl.toSource(line, column);
      return stripped.toSource(js.line, js.column);
    },
  };
}
