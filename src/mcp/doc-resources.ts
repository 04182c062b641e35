import { readFileSync } from 'node:fs';
import type { Resource } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeLimits } from '../api/operations.ts';

/**
 * The documents an agent needs to write code for the sandbox, as MCP resources: what it offers, its
 * limits on this server, examples, the tools reference.
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

/** The documents as `resources/list` entries. */
export function docResources(): Resource[] {
  return DOC_RESOURCES.map(({ text: _text, ...r }) => r);
}

/** A document's contents, or undefined when `uri` names none. */
export function readDocResource(limits: EdgeLimits, uri: string) {
  const doc = DOC_RESOURCES.find((d) => d.uri === uri);
  return doc ? { contents: [{ uri, mimeType: doc.mimeType, text: doc.text(limits) }] } : undefined;
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
