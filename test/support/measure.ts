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

/** A DevTools protocol session with a process started with --inspect: `call` sends one method and resolves with its answer. */
export async function inspectorSession(inspectorUrl: string) {
  const ws = new WebSocket(inspectorUrl);
  await new Promise((r) => ws.once('open', r));
  let id = 0;
  const call = <T>(method: string, params: object = {}) =>
    new Promise<{ result?: T }>((resolve) => {
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
  return { call, close: () => ws.close() };
}

/** Starts the V8 CPU profiler of a process started with --inspect; the returned function stops it and writes the profile. */
export async function startProfile(inspectorUrl: string): Promise<(file: string) => Promise<void>> {
  const session = await inspectorSession(inspectorUrl);
  await session.call('Profiler.enable');
  await session.call('Profiler.setSamplingInterval', { interval: 1000 });
  await session.call('Profiler.start');
  return async (file) => {
    const r = await session.call<{ profile?: unknown }>('Profiler.stop');
    writeFileSync(file, JSON.stringify(r.result!.profile));
    session.close();
  };
}
