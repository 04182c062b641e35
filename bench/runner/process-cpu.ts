import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

/** The name and the CPU time (user + system, ms) in one /proc `stat` line (the name may hold spaces and parentheses). */
function parseStat(stat: string): { name: string; cpuMs: number } {
  const end = stat.lastIndexOf(')');
  const fields = stat.slice(end + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, end), cpuMs: (Number(fields[11]) + Number(fields[12])) * (1000 / CLOCK_TICKS) };
}

/**
 * CPU time (user + system, all threads) the processes have used, in ms; null off Linux. Unlike
 * requests per second it hardly depends on what else the machine runs, so it compares runs of
 * different hours.
 */
export function processesCpuMs(pids: readonly number[]): number | null {
  try {
    return pids.reduce((sum, pid) => sum + parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuMs, 0);
  } catch {
    return null;
  }
}

/**
 * CPU time (ms) of the processes' threads, summed by thread name (digits dropped, so "V8Worker" is
 * V8's GC and compiler helpers together); null off Linux. Node names its libuv pool "libuv-worker";
 * threads that native add-ons start (isolated-vm's, LevelDB's compaction) take their parent's name.
 */
export function threadsCpuMs(pids: readonly number[]): Map<string, number> | null {
  try {
    const byName = new Map<string, number>();
    for (const pid of pids) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        let stat: string;
        try {
          stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        } catch {
          continue; // the thread ended between the listing and the read
        }
        const { name, cpuMs } = parseStat(stat);
        const group = name.replace(/\d+$/, '');
        byName.set(group, (byName.get(group) ?? 0) + cpuMs);
      }
    }
    return byName;
  } catch {
    return null;
  }
}

/** Bytes the processes handed to write calls (files and sockets: /proc/<pid>/io `wchar`); null off Linux. */
export function processesWrittenBytes(pids: readonly number[]): number | null {
  try {
    return pids.reduce((sum, pid) => sum + Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]), 0);
  } catch {
    return null;
  }
}
