import Router from '@koa/router';
import type Koa from 'koa';
import { invalidParams, UserError } from '../errors.ts';
import { LearnerSilentError, type RaftNode } from '../raft/index.ts';
import { ADMIN_MAC, ADMIN_TS, verifyAdmin } from './admin-auth.ts';
import { raftUnavailable } from '../replication/index.ts';
import { clusterStatus, type ClusterStatus } from './status.ts';

// A new member must catch up before it may vote; on a long log that takes longer than a proposal.
const PROMOTE_TIMEOUT_MS = 120_000;
const MEMBER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * `GET /cluster/status` (open: it holds no secret) and membership changes signed with the cluster
 * secret: `POST /cluster/members {id, url}` adds a node as a learner and promotes it to voter once it
 * has caught up; `DELETE /cluster/members/:id` removes one. Any node accepts them (Raft forwards to
 * the leader). `GET /cluster/digest` (signed too: it reads the whole state) hashes this node's
 * replicated state, to compare replicas at the same applied index.
 */
export function clusterRoutes(
  raft: RaftNode,
  opts: {
    electionMs: number;
    secret: string | undefined;
    /** What the node adds to its status: packages, upstream servers. */
    extra?: () => Partial<ClusterStatus>;
    digest?: () => Promise<{ index: number; sha256: string }>;
  },
): Koa.Middleware {
  const router = new Router({ prefix: '/cluster' });
  const digest = opts.digest;
  if (digest) {
    router.get('/digest', signed(opts.secret), async (ctx) => {
      ctx.body = { node: raft.status().id, ...(await digest()) };
    });
  }
  router.get('/status', (ctx) => {
    ctx.body = { ...clusterStatus(raft, opts.electionMs), ...opts.extra?.() };
  });
  router.post('/members', signed(opts.secret), async (ctx) => {
    const { id, url } = (ctx.request.body ?? {}) as { id?: unknown; url?: unknown };
    if (typeof id !== 'string' || !MEMBER_ID.test(id)) throw invalidParams('id must be a node id (letters, digits, dot, dash, underscore)');
    if (typeof url !== 'string' || !URL.canParse(url)) throw invalidParams('url must be the base URL of the new node, e.g. http://10.0.0.4:3000');
    await membership(async () => {
      const s = raft.status();
      if (!s.learners.includes(id) && !s.voters.includes(id)) await raft.addLearner(id, url);
      if (!raft.status().voters.includes(id)) await raft.promote(id, { timeoutMs: PROMOTE_TIMEOUT_MS });
    }).catch((err: unknown) => {
      if (!(err instanceof LearnerSilentError)) throw err;
      throw new UserError(
        504,
        'learner_unreachable',
        `${id} was added as a learner, but the leader has not heard from it for ${Math.round(err.silentMs / 1000)} s, so it was not made a voter. ` +
          `Check that it runs (\`raftbox serve --join\`), is reachable at ${url} from the leader and has the same --cluster-secret, then repeat this command; ` +
          `or take it out with \`raftbox members remove ${id}\`.`,
      );
    });
    ctx.body = { ...clusterStatus(raft, opts.electionMs), ...opts.extra?.() };
  });
  router.delete('/members/:id', signed(opts.secret), async (ctx) => {
    const id = ctx.params.id!;
    const s = raft.status();
    // Removing a node that is not a member (any more) is done already: a retried removal succeeds.
    if (s.voters.includes(id) || s.learners.includes(id)) await membership(() => raft.removeMember(id));
    ctx.body = { ...clusterStatus(raft, opts.electionMs), ...opts.extra?.() };
  });
  return router.routes() as unknown as Koa.Middleware;
}

function signed(secret: string | undefined): Koa.Middleware {
  return async (ctx, next) => {
    if (secret === undefined) throw new UserError(403, 'forbidden', 'membership changes need a cluster secret (--cluster-secret)');
    const raw = (ctx.request as { rawBody?: string }).rawBody ?? '';
    if (!verifyAdmin(secret, ctx.method, ctx.path, raw, ctx.get(ADMIN_TS) || undefined, ctx.get(ADMIN_MAC) || undefined)) {
      throw new UserError(401, 'unauthorized', 'membership changes must be signed with the cluster secret (use `raftbox members`)');
    }
    await next();
  };
}

async function membership(change: () => Promise<void>): Promise<void> {
  try {
    await change();
  } catch (err) {
    throw raftUnavailable(err, 'write');
  }
}
