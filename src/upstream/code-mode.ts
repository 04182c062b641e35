import type { Config } from '../config/index.ts';
import { errorAnswer, type HostCallPerformer, type RunError } from '../sandbox/index.ts';
import { PRELUDE } from './declarations.ts';
import { TypeChecker } from './type-check.ts';
import type { UpstreamLogger } from './upstream-connection.ts';
import { UpstreamServers, type UpstreamCaller, type UpstreamObserver } from './upstream-servers.ts';

/** A node's code mode: its upstream servers (none configured: absent) and what its runs get from them. */
export interface CodeMode {
  tools?: UpstreamServers;
  extensions: {
    hostCalls: (caller: UpstreamCaller) => HostCallPerformer;
    typeCheck: (code: string, caller: UpstreamCaller, session: boolean) => Promise<RunError | null>;
  };
  close(): Promise<void>;
}

// Calls of one step in flight at once; one more fails at once inside the sandbox.
const MAX_CONCURRENT_CALLS = 16;
// The first check loads the compiler and its libraries (seconds on a busy machine).
const TYPE_CHECK_TIMEOUT_MS = 30_000;
const TYPE_CHECKS_QUEUED = 32;

/** A node without upstream servers: every `mcp` call says so (`mcp.servers()` answers an empty list). */
const NO_UPSTREAMS: HostCallPerformer = {
  limits: { maxRecordedBytes: 1 << 20, maxAnswerBytes: 0, maxConcurrent: MAX_CONCURRENT_CALLS, maxCalls: 1000 },
  perform: async (request) =>
    (request.description as { op?: unknown } | null)?.op === 'servers'
      ? { answer: { value: [] } }
      : errorAnswer('TypeError', 'no upstream MCP servers are configured on this node (--mcp-server name=url, or mcpServers in the config file)'),
};

export function codeMode(config: Config, log: UpstreamLogger, observer?: UpstreamObserver): CodeMode {
  const tools =
    config.mcpServers.length === 0
      ? undefined
      : new UpstreamServers({
          servers: config.mcpServers,
          oauth: config.oauth.enabled,
          callTimeoutMs: config.upstreamCallTimeoutSecs * 1000,
          maxCallsPerStep: config.maxUpstreamCalls,
          limits: { maxRecordedBytes: config.maxRecordedBytes, maxAnswerBytes: config.maxRecordedBytes, maxConcurrent: MAX_CONCURRENT_CALLS },
          log,
          ...(observer ? { observer } : {}),
        });
  void tools?.start();
  const checker = new TypeChecker({ timeoutMs: TYPE_CHECK_TIMEOUT_MS, maxQueued: TYPE_CHECKS_QUEUED });
  return {
    ...(tools ? { tools } : {}),
    extensions: {
      hostCalls: tools ? (caller) => tools.performer(caller) : () => NO_UPSTREAMS,
      typeCheck: async (code, caller, session) => checker.check(code, tools ? await tools.declarations(caller) : PRELUDE, session),
    },
    async close() {
      await Promise.all([tools?.close(), checker.close()]);
    },
  };
}
