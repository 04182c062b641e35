/**
 * The node's CPU time per request, for comparing two versions on a shared machine where throughput
 * swings with whatever else runs: one node (`raftbox serve`, default limits) in its own process, each
 * workload warmed 3 s, then driven for `--duration` seconds by autocannon (closed loop); the node
 * process's CPU (user + system, from /proc/<pid>/stat, so Linux only) divided by the requests answered.
 *
 *   node --no-node-snapshot bench/http-cpu.ts [--duration 5] [--connections 32]
 */
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { processesCpuMs } from './runner/process-cpu.ts';
import { targets, type Target } from './runner/http-targets.ts';
import { startSingle } from './runner/servers.ts';

const { values } = parseArgs({
  options: { duration: { type: 'string', default: '5' }, connections: { type: 'string', default: '32' } },
});
const duration = Number(values.duration);
const connections = Number(values.connections);

/** Closed loop for `seconds`: the answers counted, and the run's errors. */
async function load(url: string, t: Target, seconds: number): Promise<{ answered: number; errors: number }> {
  let answered = 0;
  const instance = autocannon({ url: url + t.path, method: 'POST', headers: t.headers, body: t.body, connections, duration: seconds });
  instance.on('response', () => answered++);
  const r = await instance;
  return { answered, errors: r.errors + r.timeouts + r.non2xx };
}

const node = await startSingle();
try {
  const url = node.urls[0]!;
  const rows: string[] = [];
  for (const t of targets) {
    await load(url, t, 3); // warm up: JIT, isolate pool, LevelDB
    const before = processesCpuMs([node.pid]);
    const { answered, errors } = await load(url, t, duration);
    const after = processesCpuMs([node.pid]);
    const cpuUs = before === null || after === null ? 'n/a' : Math.round(((after - before) * 1000) / answered);
    rows.push(`| ${t.name} | ${Math.round(answered / duration)} | ${cpuUs} | ${errors} |`);
  }
  console.log([`| workload | req/s | node CPU µs/req | errors |`, '|---|---|---|---|', ...rows].join('\n'));
} finally {
  await node.stop();
}
