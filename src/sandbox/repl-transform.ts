import { parse, type ModuleDeclaration, type Node, type Pattern, type Program, type Statement, type VariableDeclaration } from 'acorn';

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

  for (const statement of program.body) {
    if (statement.type === 'VariableDeclaration') {
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

  const header =
    `(async (${GLOBAL}) => {let ${COMPLETION};` +
    [...hoistedVars].map((n) => `if (!(${JSON.stringify(n)} in ${GLOBAL})) ${GLOBAL}.${n} = undefined;`).join('') +
    functions.map((n) => `${GLOBAL}.${n} = ${n};`).join('');
  edits.unshift({ at: 0, remove: 0, insert: header });
  const body = applyEdits(text, edits);
  const columns = columnShifts(text, edits);
  const wrapShift = objectLiteral === null ? 0 : 1;
  return {
    source: `${body}\n;return [${COMPLETION}];})\n//# sourceURL=${filename}`,
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

const MODULE_SYNTAX = /^'import' and 'export' may appear only with 'sourceType: module'$/;
const NO_MODULES = 'import and export are not available: code runs as a script in a sandbox without modules';

function parseScript(code: string): Program {
  try {
    return parse(code, { ecmaVersion: 'latest', sourceType: 'script', allowAwaitOutsideFunction: true, locations: true });
  } catch (err) {
    const e = err as SyntaxError & { loc?: { line: number; column: number } };
    if (e instanceof SyntaxError && e.loc) {
      const message = e.message.replace(/ \(\d+:\d+\)$/, '');
      throw new ReplSyntaxError(MODULE_SYNTAX.test(message) ? NO_MODULES : message, e.loc.line, e.loc.column + 1);
    }
    throw err;
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
