// A bare HTTP/1.1 keep-alive connection for closed-loop load: one request at a time, JSON in and out.
// The load generator shares the machine's two cores with the nodes it measures; a general client
// (undici) spent 0.2–0.5 ms of CPU per request here, a third of what a whole step cost a node.
import net from 'node:net';

export interface JsonAnswer {
  status: number;
  json: any;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export class JsonConnection {
  private readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve(a: JsonAnswer): void; reject(e: Error): void } | null = null;
  private readonly hostHeader: string;

  private constructor(socket: net.Socket, host: string) {
    this.socket = socket;
    this.hostHeader = host;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  static open(url: string): Promise<JsonConnection> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(u.port), u.hostname, () => resolve(new JsonConnection(socket, u.host)));
      socket.once('error', reject);
    });
  }

  /** The server closed it (an idle keep-alive connection is closed after its timeout): open another. */
  get closed(): boolean {
    return this.socket.destroyed || this.socket.readyState !== 'open';
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonAnswer> {
    if (this.waiting) return Promise.reject(new Error('one request at a time'));
    // A write to a closed socket would wait forever for an answer.
    if (this.closed) return Promise.reject(new Error('connection closed'));
    const text = JSON.stringify(body);
    let head = `POST ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(head + '\r\n' + text);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0) return;
    const head = this.buf.subarray(0, end).toString('latin1');
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) return this.fail(new Error(`answer without content-length: ${head.split('\r\n')[0]}`));
    const total = end + 4 + Number(length[1]);
    if (this.buf.length < total) return;
    const body = this.buf.subarray(end + 4, total).toString('utf8');
    this.buf = this.buf.subarray(total);
    const w = this.waiting;
    this.waiting = null;
    w?.resolve({ status: Number(head.slice(9, 12)), json: body ? JSON.parse(body) : null });
  }

  private fail(e: Error): void {
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }
}
