import type { Resource } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain, ToolCaller } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { readArtifactResource } from './artifact-resources.ts';
import { docResources, readDocResource } from './doc-resources.ts';
import { packageCatalog } from './package-catalog.ts';
import { listToolResources, readToolResource } from './tool-resources.ts';

export { listResourceTemplates } from './artifact-resources.ts';

/**
 * The resources both lanes serve: the documents an agent needs (doc-resources.ts), the packages this
 * node can import (always), code mode's declarations of the upstream tools this caller may use (on a
 * node with upstream servers), and the caller's execution artifacts (by template, artifact-resources.ts).
 */
export async function listResources(domain: EdgeDomain, caller: ToolCaller): Promise<{ resources: Resource[] }> {
  const tools = domain.tools ? listToolResources(domain, caller).resources : [];
  return { resources: [...docResources(), ...packageCatalog(domain).resources, ...tools] };
}

/** A resource's contents; undefined for a URI this node does not serve (each lane answers that in its revision's terms). */
export async function readResource(domain: EdgeDomain, limits: EdgeLimits, caller: ToolCaller, uri: string) {
  return (
    readDocResource(limits, uri) ??
    packageCatalog(domain).read(uri) ??
    (domain.tools ? await readToolResource(domain, caller, uri) : undefined) ??
    (await readArtifactResource(domain, uri, caller.subject ?? undefined))
  );
}
