import { compile, type Options } from 'json-schema-to-typescript';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';

/**
 * TypeScript declarations of the upstream tools, generated from their JSON Schemas with
 * json-schema-to-typescript, each tool's description as its doc comment. Layout (the pieces merge, so
 * any subset of servers or tools is valid beside the prelude):
 *
 *   declare namespace Tools {
 *     namespace github {
 *       namespace SearchIssues { interface Input {…} type Output = … }
 *       interface Api { search_issues(args: Tools.github.SearchIssues.Input): Promise<…> }
 *     }
 *     interface Servers { github: Tools.github.Api }
 *   }
 *   declare const tools: Tools.Servers;   // in the prelude, with mcp and McpToolError
 *
 * (Disjoint sets of one server's tools merge too: `Api` is an interface. The same tool twice does not.)
 */

/** What the sandbox offers whatever the servers (see runtime/mcp.js): the shapes every tool shares. */
export const PRELUDE = `/** Code mode: tools of upstream MCP servers, callable from run_js as tools.<server>.<tool>(args). */
declare namespace Tools {
  /** A binary part of a tool's answer (an image, audio, or a resource's bytes). */
  interface BinaryPart { type: 'image' | 'audio' | 'resource'; mimeType: string; data: Uint8Array; uri?: string }
  /** An embedded text resource of a tool's answer. */
  interface TextResourcePart { type: 'resource'; uri: string; mimeType?: string; text: string }
  /** A link to a resource, as a tool answered it. */
  interface ResourceLink { type: 'resource_link'; uri: string; name: string; mimeType?: string; description?: string }
  /** A tool's answer without structured content: its text blocks joined, or, when it has other parts, every part in order. */
  type Content = string | Array<string | BinaryPart | TextResourcePart | ResourceLink>;
  interface ServerInfo { name: string; state: 'connecting' | 'ready' | 'down' | 'closed'; tools: number }
  interface ToolInfo { name: string; title?: string; description?: string; inputSchema: object; outputSchema?: object }
  /** Every server's tools, by server and tool name (each server's declarations add to it). */
  interface Servers {}
  type ArgsOf<S extends keyof Servers, T extends keyof Servers[S]> = Servers[S][T] extends (args: infer A) => unknown ? A : never;
  type AnswerOf<S extends keyof Servers, T extends keyof Servers[S]> = Servers[S][T] extends (args: never) => Promise<infer R> ? R : never;
}
/** The upstream tools, typed: \`await tools.github.search_issues({ q: 'bug' })\`. */
declare const tools: Tools.Servers;
declare const mcp: {
  /** Calls a tool: its structuredContent when it has one, else its content. Throws McpToolError when the tool answers isError. */
  callTool<S extends keyof Tools.Servers, T extends keyof Tools.Servers[S] & string>(server: S, tool: T, args: Tools.ArgsOf<S, T>): Promise<Tools.AnswerOf<S, T>>;
  /** The upstream servers this caller may use. */
  servers(): Promise<Tools.ServerInfo[]>;
  /** A server's tools with their JSON Schemas. */
  listTools(server: keyof Tools.Servers & string): Promise<Tools.ToolInfo[]>;
};
/** A tool answered with isError: its content is what it said. */
declare class McpToolError extends Error {
  readonly server: string;
  readonly tool: string;
  readonly content: Tools.Content;
}
`;

export interface ToolDeclaration {
  server: string;
  tool: string;
  /** The tool's namespace in `Tools.<server>` and its body: the Input and Output types. */
  namespace: string;
  types: string;
  /** Its member of `Tools.<server>.Api`, doc comment included. */
  member: string;
  /** Lower-case text a keyword search looks in: names, title, description. */
  haystack: string;
}

const OPTIONS: Partial<Options> = {
  bannerComment: '',
  format: false,
  declareExternallyReferenced: true,
  // A schema's $ref to a file or URL is not followed: the host fetches nothing for a declaration.
  $refOptions: { resolve: { file: false, http: false, external: false } } as Options['$refOptions'],
};

// A description longer than this is cut in the doc comment: the declarations are read by a model.
const MAX_DOC_CHARS = 2000;

export async function declareTools(server: string, tools: readonly Tool[]): Promise<ToolDeclaration[]> {
  const names = new Set<string>();
  const out: ToolDeclaration[] = [];
  for (const tool of tools) {
    const ns = uniqueIdentifier(pascal(tool.name), names);
    const input = await typeOf(tool.inputSchema, 'Input');
    const output = tool.outputSchema !== undefined ? await typeOf(tool.outputSchema, 'Output') : 'export type Output = Tools.Content\n';
    const doc = docComment([tool.title, tool.description].filter((t): t is string => typeof t === 'string' && t !== '').join('\n\n'), '      ');
    out.push({
      server,
      tool: tool.name,
      namespace: ns,
      types: input + output,
      member: `${doc}${propertyName(tool.name)}(args: Tools.${server}.${ns}.Input): Promise<Tools.${server}.${ns}.Output>;`,
      haystack: `${server} ${tool.name} ${tool.title ?? ''} ${tool.description ?? ''}`.toLowerCase(),
    });
  }
  return out;
}

/** Declarations of some tools (of one server or several), valid beside the prelude. */
export function renderDeclarations(declarations: readonly ToolDeclaration[]): string {
  const byServer = new Map<string, ToolDeclaration[]>();
  for (const d of declarations) byServer.set(d.server, [...(byServer.get(d.server) ?? []), d]);
  const chunks: string[] = [];
  for (const [server, list] of byServer) {
    const namespaces = list.map((d) => `    namespace ${d.namespace} {\n${indent(d.types, '      ')}    }\n`).join('');
    const members = list.map((d) => `      ${d.member}\n`).join('');
    chunks.push(`declare namespace Tools {\n  namespace ${server} {\n${namespaces}    interface Api {\n${members}    }\n  }\n  interface Servers {\n    ${server}: Tools.${server}.Api;\n  }\n}\n`);
  }
  return chunks.join('\n');
}

/** One schema as an exported type named `name`; a schema the generator cannot take becomes `unknown`. */
async function typeOf(schema: unknown, name: 'Input' | 'Output'): Promise<string> {
  if (typeof schema !== 'object' || schema === null) return `export type ${name} = unknown\n`;
  // The root is named by us (the generator would name it by its title) and documented by the tool.
  const { title: _title, description: _description, $schema: _dialect, ...root } = schema as Record<string, unknown>;
  try {
    return await compile(structuredClone(root) as never, name, OPTIONS);
  } catch {
    return `export type ${name} = unknown\n`;
  }
}

function docComment(text: string, pad: string): string {
  if (text === '') return '';
  const cut = text.length > MAX_DOC_CHARS ? `${text.slice(0, MAX_DOC_CHARS)}…` : text;
  const lines = cut.replaceAll('*/', '*\\/').split(/\r?\n/);
  return `/**\n${lines.map((l) => `${pad} * ${l}`.trimEnd()).join('\n')}\n${pad} */\n${pad}`;
}

function indent(text: string, pad: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l === '' ? l : pad + l) + '\n')
    .join('');
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A tool name as a member: bare when it is an identifier, else quoted (`'get-issue'(args)`). */
function propertyName(name: string): string {
  return IDENTIFIER.test(name) ? name : JSON.stringify(name);
}

function pascal(name: string): string {
  const id = name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  return /^[A-Za-z_]/.test(id) ? id : `T${id}`;
}

function uniqueIdentifier(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}${n}`;
  taken.add(id);
  return id;
}
