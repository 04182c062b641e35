import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks. */
const CLOCK_TICKS = 100;

/**
 * CPU time (user + system, all threads) the processes have used, in ms; null off Linux. Unlike
 * requests per second it hardly depends on what else the machine runs, so it compares runs of
 * different hours.
 */
export function processesCpuMs(pids: readonly number[]): number | null {
  try {
    return pids.reduce((sum, pid) => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return sum + (Number(fields[11]) + Number(fields[12])) * (1000 / CLOCK_TICKS);
    }, 0);
  } catch {
    return null;
  }
}
