/**
 * The log level each caller set with `logging/setLevel` (2025-11-25), on this node. Stateless HTTP has
 * no session to hold it, so it is kept per caller (the token's subject, '' with auth off) for the
 * requests this node serves; a node the caller never told sends what the default lets through.
 * Bounded: past MAX_CALLERS the longest-unset caller is forgotten.
 */
const ORDER = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof ORDER)[number];

const MAX_CALLERS = 10_000;
/** What a caller that set nothing is sent: the console's log/info lines and above. */
const DEFAULT_LEVEL: LogLevel = 'info';

export class LogLevels {
  readonly #levels = new Map<string, LogLevel>();

  set(caller: string, level: LogLevel): void {
    this.#levels.delete(caller);
    this.#levels.set(caller, level);
    if (this.#levels.size > MAX_CALLERS) this.#levels.delete(this.#levels.keys().next().value!);
  }

  allows(caller: string, level: LogLevel): boolean {
    return ORDER.indexOf(level) >= ORDER.indexOf(this.#levels.get(caller) ?? DEFAULT_LEVEL);
  }
}
