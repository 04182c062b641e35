export { createLogger, REDACTED_FIELDS, type LoggerOptions } from './logger.ts';
export { Metrics, type NodeGauges, type TokenOutcome } from './metrics.ts';
export { metricsRoute } from './metrics-route.ts';
export { requestIdHeaders, withRequestId } from './request-context.ts';
export { peerCallLog, requestLog } from './request-log.ts';
