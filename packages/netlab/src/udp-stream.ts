// Run in the lab's client namespace to time a failover: --flows UDP flows
// (one socket, so one source port, each) ask --target for an answer every
// --interval ms; a question without an answer within --timeout ms is lost.
// On SIGTERM prints JSON {sent, lost: [epoch ms of each lost question]}.
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    port: { type: 'string', default: '5353' },
    flows: { type: 'string', default: '16' },
    interval: { type: 'string', default: '10' },
    timeout: { type: 'string', default: '200' },
  },
});
const target = values.target!;
const family = target.includes(':') ? 'udp6' : 'udp4';
let sent = 0;
const lost: number[] = [];
let stopping = false;

async function flow(): Promise<void> {
  const s = createSocket(family);
  await new Promise<void>((r) => s.bind(0, () => r()));
  let waiting: ((ok: boolean) => void) | undefined;
  s.on('message', () => waiting?.(true));
  while (!stopping) {
    const at = Date.now();
    sent++;
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Number(values.timeout));
      waiting = (v) => {
        clearTimeout(timer);
        resolve(v);
      };
      s.send('who', Number(values.port), target);
    });
    waiting = undefined;
    if (!ok) lost.push(at);
    await new Promise((r) => setTimeout(r, Math.max(0, Number(values.interval) - (Date.now() - at))));
  }
  s.close();
}

process.on('SIGTERM', () => (stopping = true));
await Promise.all(Array.from({ length: Number(values.flows) }, () => flow()));
console.log(JSON.stringify({ sent, lost }));
