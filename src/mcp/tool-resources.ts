import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { EdgeDomain, ToolCaller } from '../api/domain.ts';

/**
 * The MCP resources of code mode: the TypeScript declarations of the upstream tools this caller may
 * use, all of them (`raftbox://tools.d.ts`) or one server's (`raftbox://tools/<server>.d.ts`), each with
 * the shared prelude, so any one of them is a complete file for a type check. Served only by a node
 * with upstream servers.
 */
export const ALL_TOOLS_URI = 'raftbox://tools.d.ts';
const serverUri = (server: string) => `raftbox://tools/${server}.d.ts`;
const MIME_TYPE = 'text/x-typescript';

export function callerOf(authInfo: AuthInfo | undefined): ToolCaller {
  const subject = authInfo?.extra?.subject;
  return { subject: typeof subject === 'string' ? subject : null, scopes: authInfo?.scopes ?? [] };
}

export function listToolResources(domain: EdgeDomain, caller: ToolCaller) {
  const servers = domain.tools?.usable(caller) ?? [];
  return {
    resources: [
      { uri: ALL_TOOLS_URI, name: 'tools.d.ts', title: 'Declarations of every upstream tool callable from run_js', mimeType: MIME_TYPE },
      ...servers.map((server) => ({ uri: serverUri(server), name: `${server}.d.ts`, title: `Declarations of upstream server ${server}'s tools`, mimeType: MIME_TYPE })),
    ],
  };
}

/** A declarations resource's contents; undefined when this caller may not see `uri` or it is not one. */
export async function readToolResource(domain: EdgeDomain, caller: ToolCaller, uri: string) {
  const tools = domain.tools;
  const server = (tools?.usable(caller) ?? []).find((s) => serverUri(s) === uri);
  if (tools === undefined || (uri !== ALL_TOOLS_URI && server === undefined)) return undefined;
  return { contents: [{ uri, mimeType: MIME_TYPE, text: await tools.declarations(caller, server) }] };
}
