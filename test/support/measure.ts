// Small measuring helpers shared by the benchmarks and the soak test.
import { readFileSync } from 'node:fs';

/** CPU seconds a process has used (user + system), from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The q-quantile (0..1) of the values, nearest-rank. */
export function quantile(xs: number[], q: number): number {
  return [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * q) - 1)]!;
}
