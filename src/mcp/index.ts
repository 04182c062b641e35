export { mcpRoutes, MCP_PATH } from './http.ts';
export { serveStdio } from './stdio.ts';
export { TOOLS } from './tools.ts';
