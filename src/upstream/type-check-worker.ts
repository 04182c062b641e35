// The type checker's thread (see type-check.ts): TypeScript's compiler API, loaded on the first check.
// A check builds a program of two files, the declarations and the code, over the standard and DOM
// libraries (parsed once and kept), and answers the code's diagnostics.
import { parentPort } from 'node:worker_threads';
import type * as TS from 'typescript-compiler-api';

export interface CheckRequest {
  id: number;
  code: string;
  declarations: string;
  /** A session step may use names earlier steps declared, which this one program cannot see. */
  session: boolean;
}

export interface Diagnostic {
  code: number;
  message: string;
  /** 1-based, in the code. */
  line: number;
  column: number;
}

export type CheckAnswer = { id: number; diagnostics: Diagnostic[] } | { id: number; failure: string };

const CODE_FILE = '/code.ts';
const DECLARATIONS_FILE = '/tools.d.ts';
// Cannot find module (packages resolve in the sandbox, not here), and in a session cannot find name.
const ALWAYS_IGNORED = new Set([2307, 2792, 7016]);
const SESSION_IGNORED = new Set([2304, 2552, 2582]);

let ts: typeof TS | null = null;
const libraries = new Map<string, TS.SourceFile>();

async function check(request: CheckRequest): Promise<Diagnostic[]> {
  // A CommonJS module: its exports are the default export of the ESM import.
  const t = (ts ??= ((await import('typescript-compiler-api')) as unknown as { default: typeof TS }).default);
  const options: TS.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: t.ScriptTarget.ES2024,
    module: t.ModuleKind.ESNext,
    moduleResolution: t.ModuleResolutionKind.Bundler,
    moduleDetection: t.ModuleDetectionKind.Force,
    lib: ['lib.es2024.d.ts', 'lib.dom.d.ts'],
    types: [],
    skipLibCheck: true,
    allowJs: true,
    checkJs: false,
  };
  const host = t.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version) => {
    if (name === CODE_FILE) return t.createSourceFile(name, request.code, version, true);
    if (name === DECLARATIONS_FILE) return t.createSourceFile(name, request.declarations, version, true);
    let library = libraries.get(name);
    if (library === undefined) {
      library = read(name, version);
      if (library !== undefined) libraries.set(name, library);
    }
    return library;
  };
  host.fileExists = (name) => name === CODE_FILE || name === DECLARATIONS_FILE || t.sys.fileExists(name);
  const program = t.createProgram([DECLARATIONS_FILE, CODE_FILE], options, host);
  const code = program.getSourceFile(CODE_FILE)!;
  const ignored = (c: number) => ALWAYS_IGNORED.has(c) || (request.session && SESSION_IGNORED.has(c));
  return [...program.getSyntacticDiagnostics(code), ...program.getSemanticDiagnostics(code)]
    .filter((d) => !ignored(d.code))
    .map((d) => {
      const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : { line: 0, character: 0 };
      return { code: d.code, message: t.flattenDiagnosticMessageText(d.messageText, '\n'), line: at.line + 1, column: at.character + 1 };
    });
}

parentPort!.on('message', (request: CheckRequest) => {
  check(request).then(
    (diagnostics) => parentPort!.postMessage({ id: request.id, diagnostics } satisfies CheckAnswer),
    (err: unknown) => parentPort!.postMessage({ id: request.id, failure: (err as Error).message } satisfies CheckAnswer),
  );
});
