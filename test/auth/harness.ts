import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Koa from 'koa';
import { Router } from '@koa/router';
import { CommandLog, ReplicatedState, type Proposer } from '../../src/store/index.ts';
import { copyState } from '../support/index.ts';
import { createBuiltInAuth, hashPassword, oauthStateModule, type AuthGate, type BuiltInAuthOptions } from '../../src/auth/index.ts';

/**
 * Stand-in for Raft between test nodes: one ordered log whose entries every node's real
 * ReplicatedState applies; a proposal answers with the proposing node's own apply result.
 */
export class SharedLog {
  private readonly states: ReplicatedState[] = [];
  private index = 0;
  private tail: Promise<unknown> = Promise.resolve();

  /** A stopped node takes no more entries (its LevelDB is closed). */
  remove(state: ReplicatedState): void {
    this.states.splice(this.states.indexOf(state), 1);
  }

  /** A node joining late catches up from a member's snapshot, as a Raft follower would. */
  async join(state: ReplicatedState): Promise<Proposer> {
    const member = this.states[0];
    this.tail = this.tail.then(async () => {
      if (member) await copyState(member, state);
      this.states.push(state);
    });
    await this.tail;
    return this.proposerFor(state);
  }

  private proposerFor(state: ReplicatedState): Proposer {
    return {
      propose: (data) => {
        const run = this.tail.then(async () => {
          const entry = { index: ++this.index, term: 1, data };
          const results = await Promise.all(this.states.map((s) => s.apply([entry])));
          return results[this.states.indexOf(state)]![0];
        });
        this.tail = run.catch(() => undefined);
        return run;
      },
      linearizableRead: () => this.tail.then(() => undefined),
      localRead: () => this.tail.then(() => undefined),
    };
  }
}

export interface AuthNode {
  url: string;
  state: ReplicatedState;
  gate: AuthGate & { pruneExpired(): Promise<void> };
  close(): Promise<void>;
}

export const PASSWORD = 'correct horse battery staple';
export const MACHINE_SECRET = 'machine-secret-for-tests';
let hashes: Promise<[string, string]> | undefined;

/** The protected routes the real surface has, in miniature: /mcp needs run, /api/* needs read. */
function protectedRoutes(gate: AuthGate): Koa.Middleware {
  const router = new Router();
  router.post('/mcp', gate.requireBearer('raftbox:run'), (ctx) => {
    ctx.body = { principal: ctx.state.principal };
  });
  router.get('/api/whoami', gate.requireBearer('raftbox:read'), (ctx) => {
    ctx.body = { principal: ctx.state.principal };
  });
  return router.routes() as Koa.Middleware;
}

/**
 * A node: real LevelDB state in a temp dir on the shared log, the real gate, a Koa app on loopback.
 * `issuer` is the cluster's public origin; when omitted the node's own URL is used.
 */
export async function startNode(
  log: SharedLog,
  opts: { issuer?: string; clockOffsetMs?: number } & Partial<BuiltInAuthOptions> = {},
): Promise<AuthNode> {
  hashes ??= Promise.all([hashPassword(PASSWORD), hashPassword(MACHINE_SECRET)]);
  const [userHash, machineHash] = await hashes;
  const dir = await mkdtemp(join(tmpdir(), 'raftbox-auth-'));
  const state = await ReplicatedState.open(dir, [oauthStateModule]);
  const app = new Koa();
  // The gate needs the URL, which needs the listening server: the app's handler is bound after both.
  let handle: ReturnType<Koa['callback']> | undefined;
  const server: Server = createServer((req, res) => handle!(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const offset = opts.clockOffsetMs ?? 0;
  const gate = createBuiltInAuth({
    issuer: opts.issuer ?? url,
    state,
    log: new CommandLog(await log.join(state)),
    users: [{ username: 'alice', passwordHash: userHash }, { username: 'bob', passwordHash: userHash }],
    clients: [{ clientId: 'k6', secretHash: machineHash, scope: 'raftbox:run raftbox:read' }],
    clock: () => Date.now() + offset,
    ...opts,
  });
  app.use(gate.routes());
  app.use(protectedRoutes(gate));
  handle = app.callback();
  return {
    url,
    state,
    gate,
    close: async () => {
      gate.close();
      log.remove(state);
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await state.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Cookie jar of one browser: just the CSRF cookie the sign-in page sets. */
export function cookieOf(res: Response): string {
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

/** The hidden fields of the first form in a page, as the browser would post them. */
export function formFields(html: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    out[m[1]!] = m[2]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
  }
  return out;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A 200 with `body` as JSON. */
export const json = (body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

/**
 * The other side of a fetch the server makes (a client's metadata document or key set), on loopback:
 * answers each path with the handler `served` holds for it (404 for none) and counts fetches per path.
 */
export interface Publisher {
  url: string;
  served: Map<string, Handler>;
  fetches: Map<string, number>;
  close(): Promise<void>;
}

export async function startPublisher(): Promise<Publisher> {
  const served = new Map<string, Handler>();
  const fetches = new Map<string, number>();
  const server = createServer((req, res) => {
    fetches.set(req.url!, (fetches.get(req.url!) ?? 0) + 1);
    const handler = served.get(req.url!);
    if (!handler) return void res.writeHead(404).end();
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    fetches,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
