// Lab client: sends one UDP datagram per source port to a VIP and reports which
// backend answered each flow, as JSON { "<sport>": "<backend name>" | null }.
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    port: { type: 'string', default: '5353' },
    bind: { type: 'string' },
    sports: { type: 'string', default: '20000-20999' },
    timeout: { type: 'string', default: '2000' },
  },
});
const [lo, hi] = values.sports.split('-').map(Number) as [number, number];
const family = values.target!.includes(':') ? 'udp6' : 'udp4';

function ask(sport: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createSocket(family);
    const timer = setTimeout(() => finish(null), Number(values.timeout));
    const finish = (v: string | null) => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    s.on('error', () => finish(null));
    s.on('message', (m) => finish(m.toString()));
    s.bind(sport, values.bind, () => s.send('who', Number(values.port), values.target));
  });
}

const out: Record<number, string | null> = {};
const ports = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
for (let i = 0; i < ports.length; i += 100) {
  const batch = ports.slice(i, i + 100);
  const answers = await Promise.all(batch.map(ask));
  batch.forEach((p, j) => (out[p] = answers[j]!));
}
console.log(JSON.stringify(out));
