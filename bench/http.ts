/**
 * HTTP benchmark of one node: stateless `run_js` over MCP (POST /mcp, Streamable HTTP, JSON answers)
 * and `POST /api/exec?wait=5000` over REST. For each: saturation throughput and latency with many
 * connections (autocannon, closed loop), then the latency at half that rate with requests paced evenly
 * (open loop: autocannon's own rate limit sends each second's requests in one burst, which measures
 * its bursts, not the server). The node runs in its own process, as in production.
 *
 *   node --no-node-snapshot bench/http.ts [--duration 10] [--connections 32]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { processesCpuMs } from './runner/process-cpu.ts';
import { targets, type Target } from './runner/http-targets.ts';
import { startSingle } from './runner/servers.ts';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' } },
});
const duration = Number(values.duration);
const connections = Number(values.connections);

interface Run {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
}

function summary(times: number[], seconds: number, errors: number): Run {
  times.sort((a, b) => a - b);
  const pct = (p: number) => +(times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? NaN).toFixed(2);
  return { rps: Math.round(times.length / seconds), p50: pct(50), p95: pct(95), p99: pct(99), errors };
}

/** Closed loop: `connections` clients each send the next request when the previous answer arrives. */
async function saturate(url: string, t: Target, seconds: number): Promise<Run> {
  const times: number[] = [];
  const instance = autocannon({ url: url + t.path, method: 'POST', headers: t.headers, body: t.body, connections, duration: seconds });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => times.push(ms));
  const r = await instance;
  return summary(times, seconds, r.errors + r.timeouts + r.non2xx);
}

/**
 * Open loop: requests start at evenly spaced times whatever the answers do, and each latency counts
 * from the request's scheduled start, so a stall is not hidden by the generator waiting on it.
 */
async function paced(url: string, t: Target, seconds: number, rate: number): Promise<Run> {
  const pool = new Pool(url, { connections: 256 });
  const times: number[] = [];
  const inflight = new Set<Promise<void>>();
  const total = Math.round(rate * seconds);
  let sent = 0;
  let errors = 0;
  const start = performance.now();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    for (; sent < due; sent++) {
      const scheduled = start + (sent * 1000) / rate;
      const p = pool
        .request({ path: t.path, method: 'POST', headers: t.headers, body: t.body })
        .then(async (res) => {
          await res.body.text();
          if (res.statusCode >= 300) errors++;
          else times.push(performance.now() - scheduled);
        })
        .catch(() => void errors++)
        .finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  await pool.close();
  return summary(times, seconds, errors);
}

const node = await startSingle();
const url = node.urls[0]!;
try {
  const rows: string[] = [];
  for (const t of targets) {
    const sample = await fetch(url + t.path, { method: 'POST', headers: t.headers, body: t.body });
    if (!t.ok(await sample.text())) throw new Error(`${t.name}: wrong answer`);
    await saturate(url, t, 3); // warm up: JIT, isolate pool, LevelDB
    const cpu0 = processesCpuMs([node.pid]);
    const sat = await saturate(url, t, duration);
    const cpu1 = processesCpuMs([node.pid]);
    // The node's CPU per request, which a busy machine hardly changes (unlike req/s).
    const cpuUs = cpu0 === null || cpu1 === null ? 'n/a' : Math.round((1000 * (cpu1 - cpu0)) / (sat.rps * duration));
    const half = await paced(url, t, duration, Math.round(sat.rps / 2));
    console.error(t.name, { saturation: sat, half });
    rows.push(
      `| ${t.name} | ${sat.rps} | ${sat.p50} | ${sat.p95} | ${sat.p99} | ${cpuUs} | ${half.rps} | ${half.p50} | ${half.p95} | ${sat.errors + half.errors} |`,
    );
  }
  console.log(
    [
      `Node ${process.version}, ${availableParallelism()} cores, node and load generator on the same machine; ${duration} s per run after a 3 s warm-up.`,
      `Saturation: autocannon, ${connections} connections (closed loop). Half rate: evenly paced requests (open loop), latency from each request's scheduled start.`,
      '',
      '| workload | saturation req/s | p50 ms | p95 ms | p99 ms | node CPU µs/req | half-rate req/s | p50 ms | p95 ms | errors |',
      '|---|---|---|---|---|---|---|---|---|---|',
      ...rows,
    ].join('\n'),
  );
} finally {
  await node.stop();
}
