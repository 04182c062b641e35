/**
 * An error a caller can cause. Every layer throws these; the HTTP, REST and MCP edges turn them into a
 * status with a JSON body `{ error: code, message }`, a JSON-RPC error, or an `isError` tool result.
 */
export class UserError extends Error {
  readonly status: number;
  readonly code: string;
  /** Seconds a client should wait before retrying, for 429/503. */
  readonly retryAfter?: number;
  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.name = 'UserError';
  }
}

export const invalidParams = (message: string) => new UserError(400, 'invalid_params', message);
export const notFound = (message: string) => new UserError(404, 'not_found', message);
export const conflict = (message: string) => new UserError(409, 'conflict', message);
export const payloadTooLarge = (message: string) => new UserError(413, 'payload_too_large', message);
export const overloaded = (message: string, retryAfter = 1) => new UserError(429, 'overloaded', message, retryAfter);
export const unavailable = (message: string, retryAfter = 1) => new UserError(503, 'unavailable', message, retryAfter);
