import type { Resource, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain, PackageEntry } from '../api/domain.ts';
import { toolsFor } from './tools.ts';

/** The MCP resource that lists what the sandbox can import (the same JSON as list_packages). */
export const PACKAGES_URI = 'raftbox://packages';

/**
 * Longest list of packages `run_js`'s description names; the rest are counted and left to
 * list_packages. A tool list is in every model's context, so it stays small whatever the operator approves.
 */
const DESCRIBED_BYTES = 1_000;

/** What one node's MCP servers say about its packages: built once per domain, since a node's package set is fixed at start. */
export interface PackageCatalog {
  /** The tool list, `run_js` naming this node's packages (and its upstream servers, see toolsFor). */
  readonly tools: Tool[];
  readonly resources: Resource[];
  /** `resources/read` of PACKAGES_URI; undefined for any other URI. */
  read(uri: string): { contents: Array<{ uri: string; mimeType: string; text: string }> } | undefined;
}

const catalogs = new WeakMap<EdgeDomain, PackageCatalog>();

export function packageCatalog(domain: EdgeDomain): PackageCatalog {
  let catalog = catalogs.get(domain);
  if (!catalog) catalogs.set(domain, (catalog = buildCatalog(domain)));
  return catalog;
}

function buildCatalog(domain: EdgeDomain): PackageCatalog {
  const listing = domain.packages?.list() ?? { packages: [], builtins: [] };
  const text = JSON.stringify(listing);
  const resource: Resource = {
    uri: PACKAGES_URI,
    name: 'packages',
    title: 'Importable packages',
    description: 'The npm packages the operator approved and the Node built-ins, with versions and bundle hashes (as list_packages answers).',
    mimeType: 'application/json',
    size: Buffer.byteLength(text),
  };
  return {
    tools: toolsFor(domain.tools?.names ?? []).map((t) => (t.name === 'run_js' ? { ...t, description: `${t.description} ${packagesSentence(listing.packages)}` } : t)),
    resources: [resource],
    read: (uri) => (uri === PACKAGES_URI ? { contents: [{ uri, mimeType: 'application/json', text }] } : undefined),
  };
}

/** `Approved packages on this server: lodash 4.17.21, yaml 2.8.1 (and 3 more: list_packages).` */
export function packagesSentence(packages: readonly PackageEntry[]): string {
  if (packages.length === 0) return 'This server approves no npm packages (Node built-ins only).';
  const named: string[] = [];
  let bytes = 0;
  for (const p of packages) {
    const entry = `${p.name} ${p.version}`;
    if (named.length > 0 && bytes + entry.length + 2 > DESCRIBED_BYTES) break;
    named.push(entry);
    bytes += entry.length + 2;
  }
  const rest = packages.length - named.length;
  return `Approved packages on this server: ${named.join(', ')}${rest > 0 ? ` (and ${rest} more: list_packages)` : ''}.`;
}
