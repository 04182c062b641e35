export { cancelRequestsModule } from './cancel-requests.ts';
export { mcpRoutes, MCP_PATH } from './http.ts';
export { serveStdio } from './stdio.ts';
export { TOOLS } from './tools.ts';
