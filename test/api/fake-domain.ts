import { conflict, invalidParams, notFound, overloaded } from '../../src/errors.ts';
import type { Domain, Execution, RunRequest } from '../../src/api/domain.ts';
import { ConfigSchema, type Config } from '../../src/config/index.ts';
import { startNode, type NodeHandle } from '../../src/server.ts';
import pino from 'pino';
import { outputPage } from '../../src/executions/output-pages.ts';

/**
 * A stand-in for ExecutionService/SessionService so the edges' contract (mapping, statuses, errors)
 * is tested without sandboxes. Code words steer it: `sleep` never finishes until cancelled, `throw`
 * fails, `overload` is refused with 429, `conflict` with 409, `log` prints five lines.
 */
const EPOCH = new Date(0).toISOString();

export function fakeDomain(): Domain & { lastRun?: RunRequest } {
  const executions = new Map<string, Execution>();
  const sessions = new Map<string, string[]>();
  let seq = 0;
  const info = (name: string) => ({ name, heap: 'h', steps: sessions.get(name)!.length, createdAt: EPOCH, updatedAt: EPOCH });
  const find = (id: string) => {
    const e = executions.get(id);
    if (!e) throw notFound(`no execution ${id}`);
    return e;
  };
  const domain: Domain & { lastRun?: RunRequest } = {
    executions: {
      async run(req) {
        domain.lastRun = req;
        if ((req.memoryMb ?? 0) > 512) throw invalidParams('heap_memory_max_mb is over the server cap of 512');
        if (req.code === 'overload') throw overloaded('queue full', 2);
        if (req.code === 'conflict') throw conflict('session moved on');
        if (req.heap === 'nope') throw notFound('no state nope');
        const now = new Date().toISOString();
        const id = `e${++seq}`;
        const sleeping = req.code.includes('sleep');
        const threw = req.code.includes('throw');
        if (req.session) sessions.set(req.session, [...(sessions.get(req.session) ?? []), req.code]);
        const e: Execution = {
          id,
          status: sleeping ? 'running' : threw ? 'failed' : 'completed',
          result: sleeping || threw ? null : req.code === '1+1' ? 2 : req.code,
          resultText: null,
          console: req.code.includes('log') ? [0, 1, 2, 3, 4].map((i) => ({ level: 'log' as const, text: `line ${i}` })) : [],
          consoleTruncated: false,
          error: threw ? { name: 'Error', message: 'boom', stack: null, line: 1, column: 1 } : null,
          session: req.session ?? null,
          step: req.session ? sessions.get(req.session)!.length - 1 : null,
          heap: req.session ? `h${seq}` : null,
          tags: req.tags ?? {},
          node: 'n1',
          createdAt: now,
          startedAt: now,
          finishedAt: sleeping ? null : now,
          durationMs: sleeping ? null : 0,
        };
        executions.set(id, e);
        return e;
      },
      async get(id) {
        return find(id);
      },
      async output(id, window) {
        return outputPage(find(id).console, window);
      },
      async cancel(id) {
        const e = find(id);
        if (e.status !== 'running' && e.status !== 'queued') throw conflict(`execution ${id} already finished (${e.status})`);
        e.status = 'cancelled';
        e.finishedAt = new Date().toISOString();
        return e;
      },
      async list({ status, session, cursor, limit = 100 }) {
        const all = [...executions.values()].reverse().filter((e) => (!status || e.status === status) && (!session || e.session === session));
        const from = cursor ? Number(cursor) : 0;
        const page = all.slice(from, from + limit);
        return { executions: page, nextCursor: from + limit < all.length ? String(from + limit) : null };
      },
    },
    sessions: {
      async list() {
        return { sessions: [...sessions.keys()].map(info), nextCursor: null };
      },
      async get(name) {
        const steps = sessions.get(name);
        if (!steps) throw notFound(`no session ${name}`);
        const journal = steps.map((code, step) => ({ step, heap: `h${step}`, code, language: 'ts' as const, threw: false, createdAt: EPOCH }));
        return { ...info(name), journal, nextStepsCursor: null };
      },
      async delete(name) {
        if (!sessions.delete(name)) throw notFound(`no session ${name}`);
      },
    },
  };
  return domain;
}

export async function startFakeNode(overrides: Partial<Config> = {}): Promise<NodeHandle & { domain: ReturnType<typeof fakeDomain> }> {
  const domain = fakeDomain();
  const config = ConfigSchema.parse({ port: 0, logLevel: 'silent', ...overrides });
  const node = await startNode(config, {
    log: pino({ level: 'silent' }),
    openDomain: async () => ({ domain, readiness: () => ({ ready: true }), close: async () => {} }),
  });
  return Object.assign(node, { domain });
}
