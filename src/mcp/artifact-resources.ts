import type { EdgeDomain } from '../api/domain.ts';
import { UserError } from '../errors.ts';
import { artifactOf } from '../executions/artifacts.ts';

/**
 * The artifacts of executions as MCP resources (`raftbox://executions/{execution_id}/artifacts/{name}`),
 * the target of the `resource_link`s a large artifact is answered with; any node serves them, since
 * they are replicated with the record. Reached by template: they are many and come and go.
 */

export const ARTIFACT_URI_TEMPLATE = 'raftbox://executions/{execution_id}/artifacts/{name}';
const ARTIFACT_URI = /^raftbox:\/\/executions\/([^/]+)\/artifacts\/([^/]+)$/;

export const artifactUri = (executionId: string, name: string) => `raftbox://executions/${executionId}/artifacts/${encodeURIComponent(name)}`;

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

/** An artifact's bytes (text for text types, base64 otherwise); undefined when `uri` names no artifact the subject can see. */
export async function readArtifactResource(domain: EdgeDomain, uri: string, subject: string | undefined) {
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
