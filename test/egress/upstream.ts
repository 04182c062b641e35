import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface Upstream {
  port: number;
  /** http://127.0.0.1:<port> */
  origin: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

type Handler = (req: SeenRequest, res: ServerResponse) => void;

/** A real HTTP server on loopback that records every request it received, then answers with `handler`. */
export async function startUpstream(handler: Handler): Promise<Upstream> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(r);
      handler(r, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answers every request with what it was: method, path, content type and the body in base64. */
export const echo: Handler = (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-upstream', 'echo');
  res.end(JSON.stringify({ method: req.method, path: req.path, contentType: req.headers['content-type'] ?? null, body: req.body.toString('base64') }));
};
