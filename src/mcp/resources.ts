import type { Resource } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain, ToolCaller } from '../api/domain.ts';
import { packageCatalog } from './package-catalog.ts';
import { listToolResources, readToolResource } from './tool-resources.ts';

/**
 * The resources both lanes serve: the packages this node can import (always), and code mode's
 * declarations of the upstream tools this caller may use (on a node with upstream servers).
 */
export async function listResources(domain: EdgeDomain, caller: ToolCaller): Promise<{ resources: Resource[] }> {
  const tools = domain.tools ? listToolResources(domain, caller).resources : [];
  return { resources: [...packageCatalog(domain).resources, ...tools] };
}

/** A resource's contents; undefined for a URI this node does not serve (each lane answers that in its revision's terms). */
export async function readResource(domain: EdgeDomain, caller: ToolCaller, uri: string) {
  return packageCatalog(domain).read(uri) ?? (domain.tools ? await readToolResource(domain, caller, uri) : undefined);
}
