// Small measuring helpers shared by the benchmarks and the soak test.
import { readFileSync, writeFileSync } from 'node:fs';
import { WebSocket } from 'ws';

/** CPU seconds a process has used (user + system), from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The q-quantile (0..1) of the values, nearest-rank. */
export function quantile(xs: number[], q: number): number {
  return [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * q) - 1)]!;
}

/** Starts the V8 CPU profiler of a process started with --inspect; the returned function stops it and writes the profile. */
export async function startProfile(inspectorUrl: string): Promise<(file: string) => Promise<void>> {
  const ws = new WebSocket(inspectorUrl);
  await new Promise((r) => ws.once('open', r));
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { profile?: unknown } }>((resolve) => {
      const mine = ++id;
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { id?: number };
        if (msg.id === mine) {
          ws.off('message', onMessage);
          resolve(msg as never);
        }
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: mine, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 1000 });
  await call('Profiler.start');
  return async (file) => {
    const r = await call('Profiler.stop');
    writeFileSync(file, JSON.stringify(r.result!.profile));
    ws.close();
  };
}
