import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { EdgeDomain } from '../api/domain.ts';
import { artifactOf } from '../executions/artifacts.ts';
import type { Artifact } from '../sandbox/index.ts';
import { artifactUri, isTextType } from './artifact-resources.ts';

type Block = CallToolResult['content'][number];

/** Non-image artifacts up to this size travel inside the answer; larger ones as a link to read. */
export const EMBED_MAX_BYTES = 64 * 1024;

/**
 * The content blocks an execution's artifacts add to a tool answer: an image as an `image` block
 * (its bytes, base64), anything else as an embedded resource when small, else a `resource_link` to
 * `raftbox://executions/{id}/artifacts/{name}` (resources/read serves it). SVG is text to most clients,
 * so it is not sent as an image.
 */
export async function artifactBlocks(domain: EdgeDomain, executionId: string, subject: string | undefined): Promise<Block[]> {
  const e = await domain.executions.get(executionId, { subject });
  return (e.artifacts ?? []).filter((a) => a.data !== undefined).map((a) => blockOf(executionId, artifactOf(e, a.name)));
}

function blockOf(executionId: string, a: Artifact): Block {
  const uri = artifactUri(executionId, a.name);
  if (a.mimeType.startsWith('image/') && a.mimeType !== 'image/svg+xml') {
    return { type: 'image', data: base64(a.data), mimeType: a.mimeType };
  }
  if (a.data.byteLength <= EMBED_MAX_BYTES) {
    const resource = isTextType(a.mimeType) ? { uri, mimeType: a.mimeType, text: new TextDecoder().decode(a.data) } : { uri, mimeType: a.mimeType, blob: base64(a.data) };
    return { type: 'resource', resource };
  }
  return { type: 'resource_link', uri, name: a.name, mimeType: a.mimeType, size: a.data.byteLength, description: `Artifact ${a.name} of execution ${executionId} (${a.data.byteLength} bytes)` };
}

const base64 = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

/** Whether an operation's answer lists artifacts (an execution's). */
export const hasArtifacts = (out: unknown): out is { execution_id: string; artifacts: unknown[] } =>
  typeof (out as { execution_id?: unknown })?.execution_id === 'string' && ((out as { artifacts?: unknown[] }).artifacts?.length ?? 0) > 0;
