import type { Json } from '../store/index.ts';

/**
 * What the edges (REST and MCP) need from the domain services, as written in docs/architecture.md.
 * ExecutionService and SessionService satisfy it structurally; tests may pass a fake.
 */
export interface RunRequest {
  code: string;
  language?: 'js' | 'ts';
  session?: string;
  heap?: string;
  memoryMb?: number;
  timeoutSecs?: number;
  tags?: Record<string, string>;
  idempotencyKey?: string;
  subject?: string;
}

export type ExecutionStatus = 'queued' | 'running' | 'completed' | 'failed' | 'timeout' | 'memory_limit' | 'cancelled';

export interface ConsoleLine {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  text: string;
}

export interface RunError {
  name: string;
  message: string;
  stack: string | null;
  line: number | null;
  column: number | null;
}

export interface Execution {
  id: string;
  status: ExecutionStatus;
  result: Json;
  resultText: string | null;
  console: ConsoleLine[];
  consoleTruncated: boolean;
  error: RunError | null;
  session: string | null;
  step: number | null;
  heap: string | null;
  tags: Record<string, string>;
  node: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

interface Page {
  offset: number;
  limit: number;
}

export interface Executions {
  run(req: RunRequest, opts: { waitMs: number; signal?: AbortSignal }): Promise<Execution>;
  get(id: string, opts: { waitMs?: number; subject?: string }): Promise<Execution>;
  output(id: string, opts: { line?: Page; byte?: Page; subject?: string }): Promise<unknown>;
  cancel(id: string, subject?: string): Promise<Execution>;
  list(q: {
    status?: ExecutionStatus;
    session?: string;
    tag?: string;
    cursor?: string;
    limit?: number;
    subject?: string;
  }): Promise<{ executions: Execution[]; nextCursor: string | null }>;
}

export interface Sessions {
  list(q: { cursor?: string; limit?: number; subject?: string }): Promise<unknown>;
  get(name: string, q: { stepsCursor?: string; stepsLimit?: number; subject?: string }): Promise<unknown>;
  delete(name: string, subject?: string): Promise<unknown>;
}

export interface Domain {
  executions: Executions;
  sessions: Sessions;
}
