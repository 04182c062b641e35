import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamServerConfig } from '../config/schema.ts';
import { errorAnswer, type HostCallAnswer, type HostCallJson, type HostCallLimits, type HostCallPerformer, type HostCallRequest } from '../sandbox/index.ts';
import { argumentRefusal } from './argument-check.ts';
import { declareTools, PRELUDE, renderDeclarations, type ToolDeclaration } from './declarations.ts';
import { sandboxAnswer } from './tool-answers.ts';
import { UpstreamConnection, UpstreamUnavailableError, type UpstreamLogger, type UpstreamStatus } from './upstream-connection.ts';

/** Who runs the code, as the access rules see it (the OAuth subject and scopes; null subject with OAuth off). */
export interface UpstreamCaller {
  subject: string | null;
  scopes: readonly string[];
}

export type UpstreamCallOutcome = 'ok' | 'tool_error' | 'refused' | 'invalid_arguments' | 'unavailable' | 'cancelled';

export interface UpstreamObserver {
  upstreamCall(server: string, outcome: UpstreamCallOutcome, seconds: number): void;
}

export interface UpstreamServersOptions {
  servers: readonly UpstreamServerConfig[];
  /** With OAuth off every caller may use every server; with it on, the servers' `allow` rules decide. */
  oauth: boolean;
  callTimeoutMs: number;
  maxCallsPerStep: number;
  /** The channel's limits of a step's calls (recorded bytes, one answer's bytes, calls in flight). */
  limits: Omit<HostCallLimits, 'maxCalls'>;
  log: UpstreamLogger;
  observer?: UpstreamObserver;
  env?: NodeJS.ProcessEnv;
}

export interface ToolMatch {
  server: string;
  tool: string;
}

const KIND = 'mcp';
// A search names at most this many tools: an agent asks again, more precisely, for more.
const MAX_SEARCH_RESULTS = 50;

/**
 * The operator's upstream MCP servers as this node connects to them: their state, their tools'
 * declarations, who may use which, and the host half of the sandbox's `mcp`/`tools` (host calls of
 * kind 'mcp'). Each node connects on its own; what a step received is in its journal, so a replay
 * on another node calls nothing.
 */
export class UpstreamServers {
  readonly #connections = new Map<string, UpstreamConnection>();
  readonly #configs = new Map<string, UpstreamServerConfig>();
  readonly #declarations = new Map<string, { tools: readonly Tool[]; declared: Promise<ToolDeclaration[]> }>();
  readonly #options: UpstreamServersOptions;
  readonly #limits: HostCallLimits;

  constructor(options: UpstreamServersOptions) {
    this.#options = options;
    this.#limits = { ...options.limits, maxCalls: options.maxCallsPerStep };
    for (const config of options.servers) {
      this.#configs.set(config.name, config);
      this.#connections.set(config.name, new UpstreamConnection(config, options.log, options.env));
    }
  }

  get names(): string[] {
    return [...this.#connections.keys()];
  }

  /** Connects every server; resolves when each has connected or failed once (failures retry on their own). */
  async start(): Promise<void> {
    await Promise.all([...this.#connections.values()].map((c) => c.connect()));
  }

  status(): UpstreamStatus[] {
    return [...this.#connections.values()].map((c) => c.status());
  }

  mayUse(caller: UpstreamCaller, server: string): boolean {
    const config = this.#configs.get(server);
    if (config === undefined) return false;
    if (!this.#options.oauth || config.allow === undefined) return true;
    const { subjects, scopes } = config.allow;
    return (caller.subject !== null && subjects.includes(caller.subject)) || caller.scopes.some((s) => scopes.includes(s));
  }

  /** The servers this caller may use. */
  usable(caller: UpstreamCaller): string[] {
    return this.names.filter((name) => this.mayUse(caller, name));
  }

  /** The prelude and the declarations of every tool of the servers named (default: all the caller may use). */
  async declarations(caller: UpstreamCaller, server?: string): Promise<string> {
    const servers = server === undefined ? this.usable(caller) : this.mayUse(caller, server) ? [server] : [];
    const declared = await Promise.all(servers.map((s) => this.#declared(s)));
    return `${PRELUDE}\n${renderDeclarations(declared.flat())}`;
  }

  /**
   * The tools whose name, title or description holds every word of `query` (all, without one), of
   * one server or of all the caller may use, with their declarations.
   */
  async search(caller: UpstreamCaller, query: string | undefined, server: string | undefined): Promise<{ matches: ToolMatch[]; declarations: string; more: boolean }> {
    const words = (query ?? '').toLowerCase().split(/\s+/).filter(Boolean);
    const servers = server === undefined ? this.usable(caller) : this.mayUse(caller, server) ? [server] : [];
    const all = (await Promise.all(servers.map((s) => this.#declared(s)))).flat();
    const found = all.filter((d) => words.every((w) => d.haystack.includes(w)));
    const kept = found.slice(0, MAX_SEARCH_RESULTS);
    return { matches: kept.map((d) => ({ server: d.server, tool: d.tool })), declarations: renderDeclarations(kept), more: found.length > kept.length };
  }

  /** The host half of one run's `mcp` calls for this caller. */
  performer(caller: UpstreamCaller): HostCallPerformer {
    return { limits: this.#limits, perform: (request, signal) => this.perform(caller, request, signal) };
  }

  /** One host call of kind 'mcp'. Never rejects: whatever goes wrong is an error answer for the sandbox. */
  async perform(caller: UpstreamCaller, request: HostCallRequest, signal: AbortSignal): Promise<HostCallAnswer> {
    if (request.kind !== KIND) return errorAnswer('TypeError', `unknown host call ${request.kind}`);
    const d = request.description as { op?: unknown; server?: unknown; tool?: unknown; args?: unknown } | null;
    const op = d?.op;
    if (op === 'servers') return { answer: { value: this.usable(caller).map((name) => serverInfo(this.#connections.get(name)!.status())) } };
    const server = typeof d?.server === 'string' ? d.server : '';
    const label = op === 'callTool' ? `${server}.${String(d?.tool)}` : `mcp.listTools(${server})`;
    const connection = this.#connections.get(server);
    if (connection === undefined) {
      return errorAnswer('TypeError', `${label}: there is no upstream MCP server "${server}" (configured: ${this.names.join(', ') || 'none'}; see mcp.servers())`);
    }
    if (!this.mayUse(caller, server)) {
      this.#options.observer?.upstreamCall(server, 'refused', 0);
      return errorAnswer('TypeError', `${label}: ${caller.subject === null ? 'this caller' : `subject "${caller.subject}"`} may not use upstream server ${server} (its allow rule names other subjects and scopes)`);
    }
    if (op === 'listTools') {
      if (connection.status().state !== 'ready') await connection.connect();
      return { answer: { value: connection.tools.map(toolInfo) } };
    }
    if (op !== 'callTool' || typeof d?.tool !== 'string') return errorAnswer('TypeError', 'mcp: malformed call description');
    return this.#callTool(connection, d.tool, d.args, signal);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#connections.values()].map((c) => c.close()));
  }

  async #callTool(connection: UpstreamConnection, name: string, args: unknown, signal: AbortSignal): Promise<HostCallAnswer> {
    const started = performance.now();
    const observe = (outcome: UpstreamCallOutcome) => this.#options.observer?.upstreamCall(connection.name, outcome, (performance.now() - started) / 1000);
    const label = `${connection.name}.${name}`;
    if (connection.status().state !== 'ready') await connection.connect();
    const tool = connection.tools.find((t) => t.name === name);
    if (tool === undefined && connection.status().state === 'ready') {
      observe('invalid_arguments');
      return errorAnswer('TypeError', `${label}: upstream server ${connection.name} has no tool "${name}" (see mcp.listTools('${connection.name}'))`);
    }
    if (tool !== undefined) {
      const refusal = argumentRefusal(tool, args);
      if (refusal !== null) {
        observe('invalid_arguments');
        return errorAnswer('TypeError', `${label}: ${refusal}; nothing was sent to the upstream server`);
      }
    }
    try {
      const result = await connection.callTool(name, args as Record<string, unknown>, signal, this.#options.callTimeoutMs);
      observe(result.isError === true ? 'tool_error' : 'ok');
      return sandboxAnswer(connection.name, name, result);
    } catch (err) {
      observe(signal.aborted ? 'cancelled' : 'unavailable');
      const message = err instanceof UpstreamUnavailableError ? err.message : `upstream server ${connection.name}: ${(err as Error).message}`;
      return errorAnswer('Error', `${label}: ${message}`);
    }
  }

  /** A server's declarations, made again when its tool list changed. */
  #declared(server: string): Promise<ToolDeclaration[]> {
    const tools = this.#connections.get(server)!.tools;
    const cached = this.#declarations.get(server);
    if (cached?.tools === tools) return cached.declared;
    const declared = declareTools(server, tools);
    this.#declarations.set(server, { tools, declared });
    return declared;
  }
}

function serverInfo(s: UpstreamStatus): HostCallJson {
  return { name: s.name, state: s.state, tools: s.tools };
}

function toolInfo(t: Tool): HostCallJson {
  const info: Record<string, HostCallJson> = { name: t.name, inputSchema: t.inputSchema as HostCallJson };
  if (t.title !== undefined) info.title = t.title;
  if (t.description !== undefined) info.description = t.description;
  if (t.outputSchema !== undefined) info.outputSchema = t.outputSchema as HostCallJson;
  return info;
}
