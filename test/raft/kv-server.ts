// A tiny KV server process over RaftNode, for the real-process tests and the benchmark:
//   node test/raft/kv-server.ts '{"id":"a","port":7101,"dataDir":"...","peers":{...}}'
// HTTP: upgrades to /raft/stream (raft RPC), POST /kv/put {key,value}, GET /kv/get?key=, GET /status,
//       POST /admin/{addLearner,promote,remove} {id,url}.
import http from 'node:http';
import { RaftNode, type RaftNodeOptions } from '../../src/raft/index.ts';
import { KvStateMachine, encodeKv } from './kv-state-machine.ts';

interface ServerConfig {
  id: string;
  port: number;
  dataDir: string;
  peers: Record<string, string>;
  join?: boolean;
  secret: string;
  raft?: Partial<RaftNodeOptions>;
}

const cfg = JSON.parse(process.argv[2]!) as ServerConfig;
const sm = await KvStateMachine.open(cfg.dataDir);
let node: RaftNode | null = null;

const server = http.createServer((req, res) => {
  void route(req, res).catch((e: unknown) => {
    const err = e as Error;
    res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: err.name, message: err.message }));
  });
});

async function body(req: http.IncomingMessage): Promise<Record<string, string>> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return JSON.parse(Buffer.concat(parts).toString() || '{}') as Record<string, string>;
}

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const json = (v: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(v ?? null));
  if (!node) throw new Error('starting');
  if (url.pathname === '/kv/put') {
    const b = await body(req);
    // A put applied twice leaves what it left once, so one whose outcome is unknown (its frame left
    // for a leader that was then killed) is asked again of the next leader rather than failed.
    return json(await node.propose(encodeKv({ op: 'put', key: b.key!, value: b.value! }), { idempotent: true }));
  }
  if (url.pathname === '/kv/get') {
    await node.linearizableRead();
    return json({ value: sm.data.get(url.searchParams.get('key')!) ?? null });
  }
  if (url.pathname === '/kv/dump') return json(Object.fromEntries(sm.data));
  if (url.pathname === '/status') return json(node.status());
  if (url.pathname === '/admin/addLearner') {
    const b = await body(req);
    return json(await node.addLearner(b.id!, b.url!));
  }
  if (url.pathname === '/admin/promote') return json(await node.promote((await body(req)).id!));
  if (url.pathname === '/admin/remove') return json(await node.removeMember((await body(req)).id!));
  res.writeHead(404).end();
}

server.on('upgrade', (req, socket, head) => {
  if (node) node.accept(req, socket, head);
  else socket.destroy();
});
await new Promise<void>((r) => server.listen(cfg.port, '127.0.0.1', r));
node = await RaftNode.start({
  id: cfg.id,
  peers: cfg.peers,
  url: `http://127.0.0.1:${cfg.port}`,
  dataDir: cfg.dataDir,
  secret: cfg.secret,
  stateMachine: sm,
  ...(cfg.join ? { join: true } : {}),
  ...cfg.raft,
});
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void node!.stop().then(() => process.exit(0));
});
