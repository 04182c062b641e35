import type { Execution } from '../../../clients/typescript/src/index.ts';

/** An execution as a person reads it in a terminal: console output, then the result or what went wrong. */
export function executionText(e: Execution): { out: string; err: string } {
  const out = [e.output ? `${e.output}\n` : '', e.status === 'completed' && e.result_text !== null ? `${e.result_text}\n` : ''].join('');
  const lines: string[] = [];
  if (e.console_truncated) lines.push('(console output truncated at the server\'s cap)');
  if (e.status !== 'completed') {
    const what = e.error ? (e.error.stack ?? `${e.error.name}: ${e.error.message}`) : e.status;
    lines.push(e.status === 'failed' ? what : `${e.status}: ${e.error?.message ?? e.status}`);
  }
  return { out, err: lines.length ? `${lines.join('\n')}\n` : '' };
}

export const ms = (v: number | null) => (v === null ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`);
