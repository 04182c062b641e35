import { readFileSync } from 'node:fs';
import type { Resource } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain } from '../api/domain.ts';
import type { EdgeLimits } from '../api/operations.ts';
import { UserError } from '../errors.ts';
import { artifactOf } from '../executions/artifacts.ts';
import { packageCatalog } from './package-catalog.ts';

/**
 * The MCP resources raftbox serves, in both lanes: the documents an agent needs to write code for the
 * sandbox (what it offers, its limits on this server, examples), the packages it can import
 * (package-catalog.ts), and the artifacts of executions
 * (`raftbox://executions/{execution_id}/artifacts/{name}`, the target of the `resource_link`s a large
 * artifact is answered with; any node serves them, since they are replicated with the record).
 */

interface DocResource {
  uri: string;
  name: string;
  title: string;
  description: string;
  mimeType: 'text/markdown';
  /** The document's text: a file of docs/, or made from this server's limits. */
  text(limits: EdgeLimits): string;
}

const docFile = (file: string) => {
  let text: string | undefined;
  // Read once, on first use: the documents ship with the server (docs/ beside src/).
  return () => (text ??= readFileSync(new URL(`../../docs/${file}`, import.meta.url), 'utf8'));
};

const sandboxApi = docFile('sandbox-api.md');
const examples = docFile('examples.md');
const tools = docFile('mcp-tools.md');

export const DOC_RESOURCES: readonly DocResource[] = [
  {
    uri: 'raftbox://docs/sandbox-api',
    name: 'sandbox-api',
    title: 'The sandbox\'s JavaScript surface',
    description: 'Every global the sandbox offers (web platform, console, timers, crypto, artifact, inputs) and how it differs from Node.',
    mimeType: 'text/markdown',
    text: sandboxApi,
  },
  {
    uri: 'raftbox://docs/limits',
    name: 'limits',
    title: 'Limits of this server',
    description: 'Memory, time, output, artifact and input caps a run_js call is held to here.',
    mimeType: 'text/markdown',
    text: limitsText,
  },
  {
    uri: 'raftbox://docs/examples',
    name: 'examples',
    title: 'Examples',
    description: 'Sessions, inputs, artifacts (a chart as PNG) and long runs, as run_js calls.',
    mimeType: 'text/markdown',
    text: examples,
  },
  {
    uri: 'raftbox://docs/mcp-tools',
    name: 'mcp-tools',
    title: 'MCP tools reference',
    description: 'The tools, their arguments and answers, and what differs between protocol revisions.',
    mimeType: 'text/markdown',
    text: tools,
  },
];

export const ARTIFACT_URI_TEMPLATE = 'raftbox://executions/{execution_id}/artifacts/{name}';
const ARTIFACT_URI = /^raftbox:\/\/executions\/([^/]+)\/artifacts\/([^/]+)$/;

export const artifactUri = (executionId: string, name: string) => `raftbox://executions/${executionId}/artifacts/${encodeURIComponent(name)}`;

/** `resources/list`: the documents and the packages (artifacts are many and come and go: they are reached by template). */
export function listResources(domain: EdgeDomain): { resources: Resource[] } {
  return { resources: [...DOC_RESOURCES.map(({ text: _text, ...r }) => r), ...packageCatalog(domain).resources] };
}

export function listResourceTemplates() {
  return {
    resourceTemplates: [
      {
        uriTemplate: ARTIFACT_URI_TEMPLATE,
        name: 'execution-artifact',
        title: 'An artifact of an execution',
        description: 'A file a run attached with artifact(name, mimeType, data) or returned as a Blob / { mimeType, data }.',
      },
    ],
  };
}

/**
 * `resources/read`: a document's text, the packages, or an artifact's bytes (text for text types,
 * base64 otherwise); undefined for a URI this node does not serve (each lane answers that in its
 * revision's terms).
 */
export async function readResource(domain: EdgeDomain, limits: EdgeLimits, uri: string, subject: string | undefined) {
  const doc = DOC_RESOURCES.find((d) => d.uri === uri);
  if (doc) return { contents: [{ uri, mimeType: doc.mimeType, text: doc.text(limits) }] };
  const packages = packageCatalog(domain).read(uri);
  if (packages) return packages;
  const match = ARTIFACT_URI.exec(uri);
  if (!match) return undefined;
  let artifact;
  try {
    const e = await domain.executions.get(decodeURIComponent(match[1]!), { subject });
    artifact = artifactOf(e, decodeURIComponent(match[2]!));
  } catch (err) {
    // Unknown or someone else's execution, or no such artifact: the same answer, as over REST.
    if (err instanceof UserError && err.status === 404) return undefined;
    throw err;
  }
  const content = isTextType(artifact.mimeType)
    ? { uri, mimeType: artifact.mimeType, text: new TextDecoder().decode(artifact.data) }
    : { uri, mimeType: artifact.mimeType, blob: Buffer.from(artifact.data.buffer, artifact.data.byteOffset, artifact.data.byteLength).toString('base64') };
  return { contents: [content] };
}

/** Types whose bytes are UTF-8 text (the sandbox writes strings as UTF-8). */
export function isTextType(mimeType: string): boolean {
  return mimeType.startsWith('text/') || /^application\/(?:json|xml|javascript|x-ndjson)$|\+(?:json|xml)$/.test(mimeType);
}

function limitsText(limits: EdgeLimits): string {
  const c = limits.sandbox;
  const mib = (bytes: number) => `${bytes} bytes (${(bytes / (1 << 20)).toFixed(2).replace(/\.?0+$/, '')} MiB)`;
  return `# Limits of this server

| What | Limit |
| --- | --- |
| Heap per run (\`heap_memory_max_mb\`) | ${c.defaultMemoryMb} MB unless asked; at most ${c.maxMemoryMb} MB |
| Time per run (\`execution_timeout_secs\`, CPU and wall clock) | ${c.defaultTimeoutSecs} s unless asked; at most ${c.maxTimeoutSecs} s |
| Output per run (console, result text, error message and stack) | ${mib(c.maxOutputBytes)}; past it the rest is cut and marked |
| Artifacts per run | ${mib(c.maxArtifactBytes)} in all, at most 32; past it \`artifact\` throws a RangeError |
| Inputs per run (\`inputs\` values as JSON text plus \`files\`) | ${mib(c.maxInputBytes)}, within the request body limit of ${mib(c.maxBodyBytes)} |

A run stopped by its time or memory limit, or cancelled, keeps the console output and artifacts it made
before it stopped. Timers run on a virtual clock: awaiting \`setTimeout\` costs no time.
`;
}
