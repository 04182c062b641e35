// Runs inside the isolate (see bootstrap.ts). Code mode: the tools of the operator's upstream MCP
// servers, as `mcp.callTool(server, tool, args)`, the typed form `tools.<server>.<tool>(args)`,
// `mcp.servers()` and `mcp.listTools(server)`. Each is a host call of kind 'mcp' (host-calls.js): the
// description is plain data (an operation, a server, a tool, the arguments as JSON), the host checks
// the caller's access and the arguments against the tool's schema and performs the call, and the
// answer is plain data turned into values here. Binary parts (images, audio, blobs) travel as the
// answer's bytes. Recorded and replayed like every host call.

const arraySlice = ArrayBuffer.prototype.slice;
const MAX_MCP_DESCRIPTION_CHARS = 255 * 1024;
const MCP_ERRORS = { __proto__: null, TypeError, RangeError };

/** A tool answered with `isError`: `content` is what it said, in the form a successful answer has. */
class McpToolError extends Error {
  constructor(message, server, tool, content) {
    super(message);
    Object.defineProperty(this, 'server', { value: server, enumerable: true });
    Object.defineProperty(this, 'tool', { value: tool, enumerable: true });
    Object.defineProperty(this, 'content', { value: content, enumerable: true });
  }
}
Object.defineProperty(McpToolError.prototype, 'name', { value: 'McpToolError', writable: true, configurable: true });

function contentOf(content, bytes) {
  if (typeof content === 'string') return content;
  const parts = [];
  for (const part of content) {
    if (typeof part === 'string' || part.offset === undefined) {
      parts.push(part);
      continue;
    }
    const { offset, length, ...rest } = part;
    rest.data = new Uint8Array(reflectApply(arraySlice, bytes, [offset, offset + length]));
    parts.push(rest);
  }
  return parts;
}

function mcpCall(label, description, server, tool) {
  const text = jsonStringify(description);
  if (text.length > MAX_MCP_DESCRIPTION_CHARS) {
    return Promise.reject(new RangeError(`${label}: the arguments take ${text.length} characters as JSON, over the limit of ${MAX_MCP_DESCRIPTION_CHARS}`));
  }
  return new Promise((resolve, reject) => {
    startHostCall('mcp', text, null, (answer, bytes) => {
      if (answer.error) {
        const Constructor = MCP_ERRORS[answer.error.name] ?? Error;
        reject(new Constructor(answer.error.message));
      } else if (answer.toolError) {
        reject(new McpToolError(answer.toolError.message, server, tool, contentOf(answer.toolError.content, bytes)));
      } else if ('content' in answer) {
        resolve(contentOf(answer.content, bytes));
      } else {
        resolve(answer.value);
      }
    });
  });
}

function checkName(label, what, value) {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${label}: the ${what} must be a non-empty string`);
}

function callTool(server, tool, args = {}) {
  const label = `mcp.callTool(${typeof server === 'string' ? server : '?'}, ${typeof tool === 'string' ? tool : '?'})`;
  try {
    checkName(label, 'server name', server);
    checkName(label, 'tool name', tool);
    if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new TypeError(`${label}: the arguments must be an object`);
    return mcpCall(label, { op: 'callTool', server, tool, args }, server, tool);
  } catch (error) {
    return Promise.reject(error);
  }
}

function installMcp(global) {
  const mcp = Object.freeze({
    __proto__: null,
    callTool,
    servers: function servers() {
      return mcpCall('mcp.servers()', { op: 'servers' });
    },
    listTools: function listTools(server) {
      try {
        checkName('mcp.listTools()', 'server name', server);
        return mcpCall(`mcp.listTools(${server})`, { op: 'listTools', server });
      } catch (error) {
        return Promise.reject(error);
      }
    },
  });
  // `tools.<server>.<tool>` is made on each read from frozen, empty targets: nothing a run sets on
  // it survives, and `await tools.x` is not mistaken for a thenable.
  const named = (make) =>
    new Proxy(Object.freeze(Object.create(null)), {
      get: (_target, key) => (typeof key === 'string' && key !== 'then' ? make(key) : undefined),
    });
  const tools = named((server) => named((tool) => ({ [tool]: (args) => callTool(server, tool, args) })[tool]));
  for (const [name, value] of [['mcp', mcp], ['tools', tools], ['McpToolError', McpToolError]]) {
    Object.defineProperty(global, name, { value, writable: true, configurable: true });
  }
}
