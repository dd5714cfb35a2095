// A backend for the lab: answers with its own name over HTTP (TCP) and UDP, and
// serves downloads of any size (GET /bytes/N) and counts uploads (POST), so tests can tell who answered.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  // --lab: the lab that started it; unused here, it tells whose process this is (ps).
  options: {
    name: { type: 'string' },
    http: { type: 'string', default: '80' },
    udp: { type: 'string', default: '5353' },
    lab: { type: 'string' },
  },
});
const name = values.name ?? 'backend';
const CHUNK = Buffer.alloc(64 * 1024, 'x');

const http = createServer((req, res) => {
  if (req.method === 'POST') {
    // An upload: answers with the number of bytes received once the body ends.
    let received = 0;
    req.on('data', (d: Buffer) => (received += d.length));
    req.on('end', () => res.end(`${received}\n`));
    return;
  }
  const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (m) {
    let left = Number(m[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left), 'x-backend': name });
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  const body = `${name}\n`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)), 'x-backend': name });
  res.end(body);
});
http.keepAliveTimeout = 60_000;

const udp = createSocket({ type: 'udp6', ipv6Only: false });
// "size:N" asks for an N-byte answer (a small request, a large response); anything else gets the name.
udp.on('message', (msg, rinfo) => {
  const m = /^size:(\d+)$/.exec(msg.toString());
  const reply = m ? Buffer.alloc(Math.min(Number(m[1]), 1400), `${name} `) : Buffer.from(name);
  udp.send(reply, rinfo.port, rinfo.address);
});

let ready = 0;
const up = () => {
  if (++ready === 2) console.log(`ready ${name}`);
};
http.listen({ port: Number(values.http), host: '::', ipv6Only: false }, up);
udp.bind(Number(values.udp), '::', up);
for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => process.exit(0));
