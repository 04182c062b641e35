import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * A loopback port free a moment ago. Tests never hard-code ports. `port`: that one, if it is free.
 *
 * Not one the OS picks (listen on port 0): those come from the kernel's ephemeral range, where every
 * outgoing connection takes its local port too, and a client socket of a busy test run took one
 * between the pick and the node's own listen ("port … is already in use", a failed CI run). Ports are
 * drawn below that range instead, each vitest worker from a slice of its own, so that two test files
 * running at once do not draw the same one.
 */
export async function freePort(port = 0): Promise<number> {
  if (port !== 0) return bind(port);
  const slice = workerSlice();
  if (slice === null) return bind(0);
  for (let attempt = 0; attempt < 100; attempt++) {
    const candidate = slice.from + Math.floor(Math.random() * slice.size);
    const bound = await bind(candidate).catch(() => null);
    if (bound !== null) return bound;
  }
  return bind(0);
}

/** The first of `count` consecutive free ports: `raftbox cluster` numbers its nodes from --base-port. */
export async function freePortRun(count: number): Promise<number> {
  for (;;) {
    const base = await freePort();
    if (base + count > 65_535) continue;
    const rest = await Promise.all(Array.from({ length: count - 1 }, (_, i) => freePort(base + i + 1).catch(() => null)));
    if (rest.every((p) => p !== null)) return base;
  }
}

function bind(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

const LOWEST = 10_000;
const SLICES = 16;

/** This worker's ports: a sixteenth of those between 10,000 and the ephemeral range; null where that range is unknown or too low. */
function workerSlice(): { from: number; size: number } | null {
  let ephemeralFrom: number;
  try {
    ephemeralFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return null;
  }
  const size = Math.floor((ephemeralFrom - LOWEST) / SLICES);
  if (!Number.isFinite(size) || size < 100) return null;
  const pool = Number(process.env.VITEST_POOL_ID);
  const worker = Number.isInteger(pool) && pool > 0 ? (pool - 1) % SLICES : 0;
  return { from: LOWEST + worker * size, size };
}
