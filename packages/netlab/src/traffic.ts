// The lab's traffic generator, run in the client namespace: small requests,
// large responses, at a bounded rate, until stopped or --minutes pass.
//   HTTP: GET /bytes/N (N from --min-bytes to --max-bytes) to --http, --rate requests/s
//   UDP:  "size:1200" to --udp, --udp-rate datagrams/s
import { createSocket } from 'node:dgram';
import { get } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    http: { type: 'string' },
    udp: { type: 'string' },
    rate: { type: 'string', default: '4' },
    'udp-rate': { type: 'string', default: '20' },
    'min-bytes': { type: 'string', default: String(256 * 1024) },
    'max-bytes': { type: 'string', default: String(2 * 1024 * 1024) },
    minutes: { type: 'string', default: '60' },
    // Not read: it names the lab this generator belongs to in `ps` (two labs can run at once).
    lab: { type: 'string' },
  },
});
const deadline = Date.now() + Number(values.minutes) * 60_000;
const min = Number(values['min-bytes']);
const max = Number(values['max-bytes']);
let inFlight = 0;

if (values.http) {
  setInterval(
    () => {
      // Bounded: never more than 4 downloads at once, whatever the network does.
      if (inFlight >= 4) return;
      inFlight++;
      const size = Math.floor(min + Math.random() * (max - min));
      get(`http://${values.http}/bytes/${size}`, { agent: false, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => inFlight--);
        res.on('error', () => inFlight--);
      }).on('error', () => inFlight--);
    },
    1000 / Number(values.rate),
  );
}

if (values.udp) {
  const [host, port] = values.udp.split(':') as [string, string];
  const sock = createSocket('udp4');
  sock.on('message', () => undefined);
  setInterval(() => sock.send('size:1200', Number(port), host), 1000 / Number(values['udp-rate']));
}

setInterval(() => {
  if (Date.now() > deadline) process.exit(0);
}, 5000);
for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => process.exit(0));
