// Raft benchmark: a 3-node cluster in this process with real LevelDB (synced) and real peer streams on
// loopback, next to the raw LevelDB synced-batch rate (the physical floor).
//   node bench/raft.ts
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Level } from 'level';
import { InProcessCluster } from '../test/raft/in-process-cluster.ts';
import { tempDir } from '../test/support/index.ts';
import { encodeKv } from '../test/raft/kv-state-machine.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function rawLevelDb(): Promise<{ batchesPerSec: number; recordsPerSec: number; singlePutsPerSec: number }> {
  const dir = path.join(await tempDir('raft-bench-ldb-'), 'db');
  const db = new Level<string, string>(dir);
  await db.open();
  const value = 'x'.repeat(64);
  let t = performance.now();
  for (let b = 0; b < 100; b++) {
    await db.batch(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `k${b}-${i}`, value })), { sync: true });
  }
  const batchSec = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < 1000; i++) await db.put(`p${i}`, value, { sync: true });
  const putSec = (performance.now() - t) / 1000;
  await db.close();
  await rm(dir, { recursive: true, force: true });
  return { batchesPerSec: 100 / batchSec, recordsPerSec: 10_000 / batchSec, singlePutsPerSec: 1000 / putSec };
}

async function throughput(cluster: InProcessCluster, leader: string, concurrency: number) {
  const node = cluster.node(leader);
  let done = 0;
  let seq = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await node.propose(encodeKv({ op: 'put', key: `t${++seq % 1000}`, value: 'v' }));
        done++;
      }
    }),
  );
  return done / SECONDS;
}

async function latencyAtRate(cluster: InProcessCluster, leader: string, perSec: number) {
  const node = cluster.node(leader);
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let sent = 0;
  let seq = 0;
  // Open loop: keep the offered rate regardless of how fast answers come back.
  while (performance.now() - start < SECONDS * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * perSec);
    for (; sent < due; sent++) {
      const t0 = performance.now();
      pending.push(node.propose(encodeKv({ op: 'put', key: `l${++seq % 1000}`, value: 'v' })).then(() => void lat.push(performance.now() - t0)));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  lat.sort((a, b) => a - b);
  return { achieved: lat.length / SECONDS, p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99) };
}

const raw = await rawLevelDb();
console.log(`raw LevelDB: ${raw.batchesPerSec.toFixed(0)} synced batches/s (${raw.recordsPerSec.toFixed(0)} records/s in batches of 100), ${raw.singlePutsPerSec.toFixed(0)} synced single puts/s`);

for (const size of [1, 3]) {
  const cluster = new InProcessCluster({ tickMs: 50, snapshotEvery: 50_000 });
  const ids = size === 1 ? ['solo'] : ['a', 'b', 'c'];
  await cluster.start(ids);
  const leader = await cluster.leader();
  await throughput(cluster, leader, 64); // warm-up (JIT, connections)
  const tput = await throughput(cluster, leader, 256);
  const lat = await latencyAtRate(cluster, leader, 1000);
  console.log(
    `${size}-node: ${tput.toFixed(0)} committed proposals/s (256 in flight); at 1,000/s offered: ${lat.achieved.toFixed(0)}/s, ` +
      `commit latency p50 ${lat.p50.toFixed(2)} ms, p95 ${lat.p95.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms`,
  );
  await cluster.close();
}
