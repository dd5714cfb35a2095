// Lab client: one long-lived HTTP/1.1 connection to a VIP, one request every
// --interval ms for --duration ms. Prints a JSON line per response
// ({"backend": name}) and exits 1 if the connection fails or a response is lost.
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    port: { type: 'string', default: '80' },
    interval: { type: 'string', default: '200' },
    duration: { type: 'string', default: '5000' },
  },
});
const sock = connect({ host: values.target!, port: Number(values.port) });
let buffer = '';
let outstanding = 0;
const deadline = Date.now() + Number(values.duration);

const fail = (why: string) => {
  console.log(JSON.stringify({ error: why }));
  process.exit(1);
};
sock.setTimeout(3000, () => fail('timeout'));
sock.on('error', (e) => fail(e.message));
sock.on('close', () => {
  if (Date.now() < deadline) fail('connection closed');
});
sock.on('data', (d) => {
  buffer += d.toString();
  // Responses are small: headers, then "<name>\n" with a content-length.
  for (;;) {
    const head = buffer.indexOf('\r\n\r\n');
    if (head < 0) return;
    const len = Number(/content-length: (\d+)/i.exec(buffer.slice(0, head))?.[1] ?? 0);
    if (buffer.length < head + 4 + len) return;
    const body = buffer.slice(head + 4, head + 4 + len).trim();
    buffer = buffer.slice(head + 4 + len);
    outstanding--;
    console.log(JSON.stringify({ backend: body }));
  }
});
sock.on('connect', () => {
  const tick = () => {
    if (Date.now() >= deadline) {
      if (outstanding > 0) return fail(`${outstanding} responses missing`);
      sock.end();
      return;
    }
    outstanding++;
    sock.write(`GET / HTTP/1.1\r\nHost: lab\r\n\r\n`);
    setTimeout(tick, Number(values.interval));
  };
  tick();
});
