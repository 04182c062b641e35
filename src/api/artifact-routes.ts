import type Router from '@koa/router';
import { z } from 'zod';
import { artifactOf } from '../executions/artifacts.ts';
import { principalOf, type Guard } from '../http/guard.ts';
import type { EdgeDomain } from './domain.ts';
import { executionView, ExecutionView } from './views.ts';

export const ARTIFACTS_PATH = '/api/executions/:execution_id/artifacts';
export const ARTIFACT_PATH = '/api/executions/:execution_id/artifacts/:name';

export const ArtifactList = z.object({ execution_id: z.string(), artifacts: ExecutionView.shape.artifacts });

/**
 * The artifacts of an execution over REST, from any node (they are replicated with its record): the
 * list as JSON, and one artifact's bytes as they were attached, with their media type. Bytes an agent's
 * code made are served as inert: `Content-Security-Policy: sandbox` (an HTML or SVG artifact runs no
 * script on this origin) and `nosniff`. Not operations of the table (src/api/operations.ts): the bytes
 * are no JSON answer, and the list is in every execution already.
 */
export function artifactRoutes(router: Router, domain: EdgeDomain, guard: Guard): void {
  router.get(ARTIFACTS_PATH, guard('raftbox:read'), async (ctx) => {
    const e = await domain.executions.get(ctx.params.execution_id!, { subject: principalOf(ctx)?.subject });
    ctx.body = { execution_id: e.id, artifacts: executionView(e).artifacts } satisfies z.output<typeof ArtifactList>;
  });
  router.get(ARTIFACT_PATH, guard('raftbox:read'), async (ctx) => {
    const e = await domain.executions.get(ctx.params.execution_id!, { subject: principalOf(ctx)?.subject });
    const artifact = artifactOf(e, ctx.params.name!);
    ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Content-Disposition', `inline; filename="${artifact.name}"`);
    ctx.type = artifact.mimeType;
    ctx.body = Buffer.from(artifact.data.buffer, artifact.data.byteOffset, artifact.data.byteLength);
  });
}
