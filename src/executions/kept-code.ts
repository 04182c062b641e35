/**
 * The code an execution record keeps, for the status page's detail view and `get_execution`'s
 * `include_code`: the whole code up to this many UTF-8 bytes, else its first whole characters within
 * them. Sessions keep every step's whole code in their journal already; this is the only copy a
 * stateless run leaves, and it is capped so a record (and its Raft entries) stays small whatever the
 * request size limit.
 */
export const KEPT_CODE_BYTES = 16 * 1024;

const encoder = new TextEncoder();

/** `code`: what the record keeps; `codeBytes`: the UTF-8 size of all of it (more than `code`'s: truncated). */
export function keptCode(code: string): { code: string; codeBytes: number } {
  const codeBytes = Buffer.byteLength(code);
  if (codeBytes <= KEPT_CODE_BYTES) return { code, codeBytes };
  // encodeInto writes whole characters only, so `read` ends on a character boundary.
  const { read } = encoder.encodeInto(code, new Uint8Array(KEPT_CODE_BYTES));
  return { code: code.slice(0, read), codeBytes };
}
