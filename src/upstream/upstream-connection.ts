import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { getDefaultEnvironment, StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { McpError, ToolListChangedNotificationSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamServerConfig } from '../config/schema.ts';
import { credentialsOf, type UpstreamCredentials } from './credentials.ts';

export type UpstreamState = 'connecting' | 'ready' | 'down' | 'closed';

/** What `/cluster/status`, `/metrics` and the status page show of one upstream server. */
export interface UpstreamStatus {
  name: string;
  transport: 'http' | 'stdio';
  state: UpstreamState;
  tools: number;
  /** Why the last connection attempt or connection failed (no credential in it). */
  lastError: string | null;
  /** ISO time the current connection was made, or null. */
  connectedAt: string | null;
  /** Connection attempts since the last success. */
  failedAttempts: number;
}

export interface UpstreamLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** A tool call that did not get an answer from the upstream server (as opposed to a tool's own `isError`). */
export class UpstreamUnavailableError extends Error {
  override readonly name = 'UpstreamUnavailableError';
}

const CLIENT_INFO = { name: 'raftbox', version: '0.1.0' };
// Reconnection: the first retry comes soon (a restarting server), later ones back off to a ceiling.
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const CONNECT_TIMEOUT_MS = 10_000;
// A server's tool list is read in pages; past these it is cut (and said so in the log), so one
// server cannot make every node hold and describe an unbounded list.
const MAX_TOOLS = 1000;
const MAX_PAGES = 100;

/**
 * One upstream MCP server as this node sees it: an SDK `Client` over Streamable HTTP or stdio, its
 * tool list (read again on `notifications/tools/list_changed`), and reconnection with backoff after
 * the connection fails. A call while it is down tries to connect at once instead of waiting out the
 * backoff, so a server that came back is used on the next call.
 */
export class UpstreamConnection {
  readonly name: string;
  readonly #config: UpstreamServerConfig;
  readonly #credentials: UpstreamCredentials;
  readonly #log: UpstreamLogger;
  #client: Client | null = null;
  #state: UpstreamState = 'connecting';
  #tools: Tool[] = [];
  #lastError: string | null = null;
  #connectedAt: string | null = null;
  #failedAttempts = 0;
  #connecting: Promise<void> | null = null;
  #retry: ReturnType<typeof setTimeout> | null = null;

  constructor(config: UpstreamServerConfig, log: UpstreamLogger, env: NodeJS.ProcessEnv = process.env) {
    this.name = config.name;
    this.#config = config;
    this.#credentials = credentialsOf(config, env);
    this.#log = log;
  }

  get tools(): readonly Tool[] {
    return this.#tools;
  }

  status(): UpstreamStatus {
    return {
      name: this.name,
      transport: this.#config.url !== undefined ? 'http' : 'stdio',
      state: this.#state,
      tools: this.#tools.length,
      lastError: this.#lastError,
      connectedAt: this.#connectedAt,
      failedAttempts: this.#failedAttempts,
    };
  }

  /** Connects (once; concurrent callers share the attempt). Never rejects: a failure schedules a retry. */
  connect(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
    return (this.#connecting ??= this.#attempt().finally(() => (this.#connecting = null)));
  }

  async callTool(tool: string, args: Record<string, unknown>, signal: AbortSignal, timeoutMs: number): Promise<CallToolResult> {
    if (this.#state !== 'ready') await this.connect();
    const client = this.#client;
    if (this.#state !== 'ready' || client === null) {
      throw new UpstreamUnavailableError(`upstream server ${this.name} is unavailable: ${this.#lastError ?? this.#state}`);
    }
    try {
      return (await client.callTool({ name: tool, arguments: args }, undefined, { signal, timeout: timeoutMs })) as CallToolResult;
    } catch (err) {
      if (signal.aborted) throw err;
      const message = (err as Error).message;
      // A JSON-RPC error or a timeout (McpError) leaves the connection as it is: the server is there. A
      // transport failure (refused, reset, an HTTP error such as an unknown session) is the connection's end.
      if (!(err instanceof McpError)) this.#lost(client, message);
      throw new UpstreamUnavailableError(`upstream server ${this.name}: ${message}`);
    }
  }

  async close(): Promise<void> {
    this.#state = 'closed';
    if (this.#retry !== null) clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = null;
    await client?.close().catch(() => undefined);
  }

  async #attempt(): Promise<void> {
    this.#setState('connecting');
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    try {
      await client.connect(this.#transport(), { timeout: CONNECT_TIMEOUT_MS });
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        this.#refreshTools(client).catch((err: unknown) => this.#log.warn({ upstream: this.name, reason: (err as Error).message }, 'reading the changed tool list failed'));
      });
      this.#tools = await listAllTools(client, this.name, this.#log);
    } catch (err) {
      await client.close().catch(() => undefined);
      if (this.#state === 'closed') return;
      this.#failedAttempts++;
      this.#lastError = (err as Error).message;
      this.#setState('down');
      this.#scheduleRetry();
      this.#log.warn({ upstream: this.name, attempts: this.#failedAttempts, reason: this.#lastError }, 'cannot connect to upstream MCP server');
      return;
    }
    if (this.#state === 'closed') {
      await client.close().catch(() => undefined);
      return;
    }
    client.onclose = () => this.#lost(client, 'the connection closed');
    this.#client = client;
    this.#failedAttempts = 0;
    this.#lastError = null;
    this.#connectedAt = new Date().toISOString();
    this.#setState('ready');
    this.#log.info({ upstream: this.name, tools: this.#tools.length }, 'connected to upstream MCP server');
  }

  async #refreshTools(client: Client): Promise<void> {
    const tools = await listAllTools(client, this.name, this.#log);
    if (this.#client !== client) return;
    this.#tools = tools;
  }

  #lost(client: Client, reason: string): void {
    if (this.#client !== client || this.#state === 'closed') return;
    this.#client = null;
    this.#connectedAt = null;
    this.#lastError = reason;
    this.#setState('down');
    client.onclose = undefined;
    void client.close().catch(() => undefined);
    this.#log.warn({ upstream: this.name, reason }, 'lost the connection to upstream MCP server');
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#retry !== null || this.#state === 'closed') return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, this.#failedAttempts - 1));
    const ms = base / 2 + Math.random() * (base / 2); // jitter: nodes of a cluster do not retry in step
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.connect();
    }, ms);
    this.#retry.unref();
  }

  #setState(state: UpstreamState): void {
    if (this.#state !== 'closed') this.#state = state;
  }

  #transport(): Transport {
    const c = this.#config;
    if (c.url !== undefined) {
      return new StreamableHTTPClientTransport(new URL(c.url), { fetch: this.#authorizedFetch(c.headers) });
    }
    return new StdioClientTransport({ command: c.command!, args: c.args, env: { ...getDefaultEnvironment(), ...c.env }, stderr: 'ignore' });
  }

  /** The operator's headers and the credential, added on every request the SDK makes; a 401 renews the credential. */
  #authorizedFetch(headers: Record<string, string>): typeof fetch {
    return async (input, init) => {
      const merged = new Headers(init?.headers);
      for (const [name, value] of Object.entries(headers)) merged.set(name, value);
      const token = await this.#credentials.token();
      if (token !== null) merged.set('authorization', `Bearer ${token}`);
      const response = await fetch(input, { ...init, headers: merged });
      if (response.status === 401) this.#credentials.refused();
      return response;
    };
  }
}

async function listAllTools(client: Client, name: string, log: UpstreamLogger): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: CONNECT_TIMEOUT_MS });
    tools.push(...result.tools);
    cursor = result.nextCursor;
    if (cursor === undefined || tools.length >= MAX_TOOLS) break;
  }
  if (tools.length > MAX_TOOLS || cursor !== undefined) log.warn({ upstream: name, kept: Math.min(tools.length, MAX_TOOLS) }, 'upstream tool list cut');
  return tools.slice(0, MAX_TOOLS);
}
