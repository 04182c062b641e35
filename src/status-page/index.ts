export { statusPageRoutes } from './routes.ts';
export type { MemberStatus, NodeStatus } from './node-status.ts';
