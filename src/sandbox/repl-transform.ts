import { parse, type ImportDeclaration, type ModuleDeclaration, type Node, type Pattern, type Program, type Statement, type VariableDeclaration } from 'acorn';

/**
 * Rewrites a REPL cell into `(async () => { … })` so that top-level `await` works, the completion
 * value is returned, and top-level declarations land on the global object (they persist to later
 * cells and re-running `const x = …` does not throw). Every edit stays on the line it touches, so
 * line numbers in stack traces are the user's, and `toSource` undoes the column shifts.
 */
export interface ReplProgram {
  /** Source for an indirect eval inside the isolate; evaluates to `(global) => Promise<[completion]>`. */
  source: string;
  /** Maps a 1-based line/column of `source` back to the cell's code. */
  toSource(line: number, column: number): { line: number; column: number };
  /**
   * Module specifiers the cell names as string literals (static imports, `import('x')`, `require('x')`,
   * and `buffer` when it mentions the global `Buffer`): the host loads these before the step runs.
   */
  modules: string[];
}

export class ReplSyntaxError extends Error {
  override readonly name = 'SyntaxError';
  readonly line: number;
  readonly column: number;
  constructor(
    message: string,
    line: number,
    column: number,
  ) {
    super(message);
    this.line = line;
    this.column = column;
  }
}

const GLOBAL = '__raftbox_global';
const COMPLETION = '__raftbox_completion';
// The registry's import() and namespace lookup (runtime/modules.js), passed to the cell by the driver.
const IMPORT = '__raftbox_import';
const NAMESPACE = '__raftbox_namespace';

interface Edit {
  at: number;
  remove: number;
  insert: string;
}

export function transformRepl(code: string, filename: string): ReplProgram {
  const objectLiteral = parseObjectLiteralCell(code);
  const text = objectLiteral ?? code;
  const program = parseScript(text);
  const edits: Edit[] = [];
  const hoistedVars = new Set<string>();
  const functions: string[] = [];

  const modules = new Set<string>();
  for (const statement of program.body) {
    if (statement.type === 'ImportDeclaration') {
      rewriteImport(statement, text, edits);
    } else if (statement.type.startsWith('Export')) {
      throw syntaxErrorAt(text, statement.start, 'export is not available: a cell is not a module (its top-level declarations persist in the session by themselves)');
    } else if (statement.type === 'VariableDeclaration') {
      rewriteDeclaration(statement, true, edits, hoistedVars);
    } else if (statement.type === 'ClassDeclaration' && statement.id) {
      edits.push({ at: statement.start, remove: 0, insert: `;${statement.id.name} = ` });
      edits.push({ at: statement.end, remove: 0, insert: ';' });
    } else if (statement.type === 'FunctionDeclaration' && statement.id) {
      functions.push(statement.id.name);
    } else {
      visitStatement(statement, edits, hoistedVars);
    }
  }

  visitModuleUses(program, text, edits, modules);

  const header =
    `(async (${GLOBAL}, ${IMPORT}, ${NAMESPACE}) => {let ${COMPLETION};` +
    [...hoistedVars].map((n) => `if (!(${JSON.stringify(n)} in ${GLOBAL})) ${GLOBAL}.${n} = undefined;`).join('') +
    functions.map((n) => `${GLOBAL}.${n} = ${n};`).join('');
  edits.unshift({ at: 0, remove: 0, insert: header });
  const body = applyEdits(text, edits);
  const columns = columnShifts(text, edits);
  const wrapShift = objectLiteral === null ? 0 : 1;
  return {
    source: `${body}\n;return [${COMPLETION}];})\n//# sourceURL=${filename}`,
    modules: [...modules],
    toSource(line, column) {
      const output = column - 1;
      let original = output;
      for (const shift of columns.get(line) ?? []) {
        if (output < shift.outputColumn) break;
        if (output < shift.outputColumn + shift.inserted) {
          original = shift.originalColumn;
          break;
        }
        original -= shift.inserted - shift.removed;
      }
      return { line, column: Math.max(1, original + 1 - (line === 1 ? wrapShift : 0)) };
    },
  };
}

interface ColumnShift {
  /** Where the edit starts in the output line, and in the original line (0-based). */
  outputColumn: number;
  originalColumn: number;
  inserted: number;
  removed: number;
}

/** Per line, how edits moved columns (edits never add or remove line breaks). */
function columnShifts(code: string, sortedEdits: Edit[]): Map<number, ColumnShift[]> {
  const byLine = new Map<number, ColumnShift[]>();
  let line = 1;
  let lineStart = 0;
  let scanned = 0;
  let shiftOnLine = 0;
  for (const e of sortedEdits) {
    for (; scanned < e.at; scanned++) {
      if (code.charCodeAt(scanned) === 10) {
        line++;
        lineStart = scanned + 1;
        shiftOnLine = 0;
      }
    }
    const originalColumn = e.at - lineStart;
    const shifts = byLine.get(line) ?? [];
    shifts.push({ outputColumn: originalColumn + shiftOnLine, originalColumn, inserted: e.insert.length, removed: e.remove });
    byLine.set(line, shifts);
    shiftOnLine += e.insert.length - e.remove;
  }
  return byLine;
}

/**
 * A cell is a script (sloppy unless it says otherwise, top-level declarations on the global object);
 * `import` declarations are accepted anywhere by the parser and then allowed at the top level only.
 */
function parseScript(code: string): Program {
  try {
    return parse(code, { ecmaVersion: 'latest', sourceType: 'script', allowAwaitOutsideFunction: true, allowImportExportEverywhere: true, locations: true });
  } catch (err) {
    const e = err as SyntaxError & { loc?: { line: number; column: number } };
    if (e instanceof SyntaxError && e.loc) {
      throw new ReplSyntaxError(e.message.replace(/ \(\d+:\d+\)$/, ''), e.loc.line, e.loc.column + 1);
    }
    throw err;
  }
}

function syntaxErrorAt(code: string, offset: number, message: string): ReplSyntaxError {
  const before = code.slice(0, offset);
  const line = before.split('\n').length;
  return new ReplSyntaxError(message, line, offset - (before.lastIndexOf('\n') + 1) + 1);
}

/**
 * `import D, { a, b as c } from 'm'` becomes `;({default: D, "a": a, "b": c} = NS('m'));` and
 * `import * as z from 'm'` becomes `;z = NS('m');`: the bindings land on the global object like the
 * cell's other top-level declarations (so they persist in a session), where the import stands. The
 * statement's line breaks are kept after it, so the lines below it do not move.
 */
function rewriteImport(node: ImportDeclaration, code: string, edits: Edit[]): void {
  const source = `${NAMESPACE}(${JSON.stringify(node.source.value)})`;
  const named: string[] = [];
  let namespace: string | null = null;
  for (const s of node.specifiers) {
    if (s.type === 'ImportNamespaceSpecifier') namespace = s.local.name;
    else if (s.type === 'ImportDefaultSpecifier') named.push(`"default": ${s.local.name}`);
    else named.push(`${JSON.stringify(s.imported.type === 'Identifier' ? s.imported.name : s.imported.value)}: ${s.local.name}`);
  }
  let replacement: string;
  if (namespace !== null) {
    replacement = `;${namespace} = ${source};` + (named.length > 0 ? `({${named.join(', ')}} = ${namespace});` : '');
  } else if (named.length > 0) {
    replacement = `;({${named.join(', ')}} = ${source});`;
  } else {
    replacement = `;${source};`;
  }
  const original = code.slice(node.start, node.end);
  edits.push({ at: node.start, remove: node.end - node.start, insert: replacement + '\n'.repeat(original.split('\n').length - 1) });
}

/**
 * Everywhere in the cell: `import(x)` goes to the registry, `import.meta` and nested import
 * declarations are refused, and the string-literal specifiers of imports and `require` calls (and
 * a mention of `Buffer`) are collected for the host to load.
 */
function visitModuleUses(program: Program, code: string, edits: Edit[], modules: Set<string>): void {
  const stack: unknown[] = [...program.body];
  while (stack.length > 0) {
    const node = stack.pop() as (Node & Record<string, unknown>) | null;
    if (node === null || typeof node !== 'object') continue;
    if (Array.isArray(node)) {
      stack.push(...(node as unknown[]));
      continue;
    }
    if (typeof node.type !== 'string') continue;
    switch (node.type) {
      case 'ImportDeclaration': {
        const declaration = node as unknown as ImportDeclaration;
        if (!program.body.includes(declaration)) throw syntaxErrorAt(code, node.start, "'import' declarations may only appear at the top level of a cell");
        modules.add(String(declaration.source.value));
        continue;
      }
      case 'ImportExpression': {
        const source = node.source as Node & { value?: unknown };
        if (source.type === 'Literal' && typeof source.value === 'string') modules.add(source.value);
        edits.push({ at: node.start, remove: 'import'.length, insert: IMPORT });
        break;
      }
      case 'MetaProperty':
        if ((node.meta as { name: string }).name === 'import') throw syntaxErrorAt(code, node.start, 'import.meta is not available: a cell is not a module');
        break;
      case 'CallExpression': {
        const callee = node.callee as Node & { name?: string };
        const [first] = node.arguments as Array<Node & { value?: unknown }>;
        if (callee.type === 'Identifier' && callee.name === 'require' && first?.type === 'Literal' && typeof first.value === 'string') modules.add(first.value);
        break;
      }
      case 'Identifier':
        if (node.name === 'Buffer') modules.add('buffer');
        continue;
      default:
        if (node.type.startsWith('Export')) throw syntaxErrorAt(code, node.start, 'export is not available: a cell is not a module');
        break;
    }
    for (const key of Object.keys(node)) {
      if (key === 'loc' || key === 'type') continue;
      const child = node[key];
      if (child !== null && typeof child === 'object') stack.push(child);
    }
  }
}

/** Like Node's REPL: a cell that looks like `{ a: 1 }` is an object literal, not a block. */
function parseObjectLiteralCell(code: string): string | null {
  const trimmed = code.trim();
  if (!trimmed.startsWith('{') || trimmed.endsWith(';')) return null;
  const wrapped = `(${code})`;
  try {
    const program = parse(wrapped, { ecmaVersion: 'latest', sourceType: 'script', allowAwaitOutsideFunction: true });
    return program.body.length === 1 && program.body[0]!.type === 'ExpressionStatement' ? wrapped : null;
  } catch {
    return null;
  }
}

/** Descends through statements (never into functions or classes, which have their own scope). */
function visitStatement(node: Statement | ModuleDeclaration, edits: Edit[], hoistedVars: Set<string>): void {
  switch (node.type) {
    case 'ExpressionStatement':
      // An anonymous function or class assigned straight to the completion variable would be named
      // after it (`[Function: __raftbox_completion]`); `(0, …)` keeps it anonymous.
      edits.push({ at: node.expression.start, remove: 0, insert: `${COMPLETION} = (${isAnonymousFunction(node.expression) ? '0, ' : ''}` });
      edits.push({ at: node.expression.end, remove: 0, insert: ')' });
      return;
    case 'VariableDeclaration':
      if (node.kind === 'var') rewriteDeclaration(node, true, edits, hoistedVars);
      return;
    case 'BlockStatement':
      for (const s of node.body) visitStatement(s, edits, hoistedVars);
      return;
    case 'IfStatement':
      visitStatement(node.consequent, edits, hoistedVars);
      if (node.alternate) visitStatement(node.alternate, edits, hoistedVars);
      return;
    case 'ForStatement':
      if (node.init?.type === 'VariableDeclaration' && node.init.kind === 'var') {
        rewriteDeclaration(node.init, false, edits, hoistedVars);
      }
      visitStatement(node.body, edits, hoistedVars);
      return;
    case 'ForInStatement':
    case 'ForOfStatement':
      if (node.left.type === 'VariableDeclaration' && node.left.kind === 'var') {
        rewriteDeclaration(node.left, false, edits, hoistedVars);
      }
      visitStatement(node.body, edits, hoistedVars);
      return;
    case 'WhileStatement':
    case 'DoWhileStatement':
    case 'LabeledStatement':
    case 'WithStatement':
      visitStatement(node.body, edits, hoistedVars);
      return;
    case 'TryStatement':
      visitStatement(node.block, edits, hoistedVars);
      if (node.handler) visitStatement(node.handler.body, edits, hoistedVars);
      if (node.finalizer) visitStatement(node.finalizer, edits, hoistedVars);
      return;
    case 'SwitchStatement':
      for (const c of node.cases) for (const s of c.consequent) visitStatement(s, edits, hoistedVars);
      return;
    default:
      return;
  }
}

function isAnonymousFunction(node: Node): boolean {
  if (node.type === 'ArrowFunctionExpression') return true;
  return (node.type === 'FunctionExpression' || node.type === 'ClassExpression') && !(node as { id?: unknown }).id;
}

/**
 * `let a = 1, {b} = o` becomes `;   a = 1, ({b} = o)`: the keyword is overwritten in place (columns
 * kept), declarators become assignments to globals. In a `for` head no `;` may be introduced.
 */
function rewriteDeclaration(
  node: VariableDeclaration,
  asStatement: boolean,
  edits: Edit[],
  hoistedVars: Set<string>,
): void {
  const keyword = node.kind;
  edits.push({ at: node.start, remove: keyword.length, insert: (asStatement ? ';' : ' ').padEnd(keyword.length, ' ') });
  for (const d of node.declarations) {
    const names = patternNames(d.id);
    if (keyword === 'var') for (const n of names) hoistedVars.add(n);
    if (d.id.type !== 'Identifier' && d.init) {
      edits.push({ at: d.id.start, remove: 0, insert: '(' });
      edits.push({ at: d.init.end, remove: 0, insert: ')' });
    } else if (!d.init && keyword !== 'var' && asStatement) {
      edits.push({ at: d.id.end, remove: 0, insert: ' = void 0' });
    }
  }
}

function patternNames(p: Pattern | Node): string[] {
  switch (p.type) {
    case 'Identifier':
      return [(p as { name: string } & Node).name];
    case 'ObjectPattern':
      return (p as import('acorn').ObjectPattern).properties.flatMap((prop) =>
        prop.type === 'RestElement' ? patternNames(prop.argument) : patternNames(prop.value),
      );
    case 'ArrayPattern':
      return (p as import('acorn').ArrayPattern).elements.flatMap((el) => (el ? patternNames(el) : []));
    case 'RestElement':
      return patternNames((p as import('acorn').RestElement).argument);
    case 'AssignmentPattern':
      return patternNames((p as import('acorn').AssignmentPattern).left);
    default:
      return [];
  }
}

/** Sorts `edits` in place (later steps rely on that) and applies them. */
function applyEdits(code: string, edits: Edit[]): string {
  edits.sort((a, b) => a.at - b.at);
  let out = '';
  let cursor = 0;
  for (const e of edits) {
    out += code.slice(cursor, e.at) + e.insert;
    cursor = e.at + e.remove;
  }
  return out + code.slice(cursor);
}
