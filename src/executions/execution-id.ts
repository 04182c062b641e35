import { randomUUID } from 'node:crypto';

let lastMs = 0;
let sequence = 0;

/**
 * A UUIDv7: a standard-looking id whose text sorts by creation time (48-bit milliseconds first), so
 * listings can page newest-first by comparing ids alone. Within one millisecond (or if the clock
 * steps back) the 12-bit field after the version counts up, so ids from one process stay in order.
 */
export function newExecutionId(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMs++;
    sequence = 0;
  }
  // randomUUID draws from a cached entropy pool: much cheaper per call than randomBytes.
  const random = randomUUID().replaceAll('-', ''); // hex 16 holds the RFC 4122 variant, 17.. are random
  const time = lastMs.toString(16).padStart(12, '0');
  const seq = sequence.toString(16).padStart(3, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-7${seq}-${random.slice(16, 20)}-${random.slice(20)}`;
}

export const EXECUTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
