// Run inside the lab's client namespace by bench/dataplane.ts: opens --count TCP
// connections to --target host:port one after another and prints the time from
// connect() to the handshake's completion of each, in milliseconds (JSON).
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { target: { type: 'string' }, count: { type: 'string', default: '200' } } });
const [host, port] = (values.target ?? '').split(/:(?=\d+$)/) as [string, string];
const times: number[] = [];
for (let i = 0; i < Number(values.count); i++) {
  times.push(
    await new Promise<number>((resolve, reject) => {
      const start = process.hrtime.bigint();
      const socket = connect({ host, port: Number(port), timeout: 3000 });
      socket.once('connect', () => {
        resolve(Number(process.hrtime.bigint() - start) / 1e6);
        socket.destroy();
      });
      socket.once('timeout', () => reject(new Error(`connect to ${values.target} timed out`)));
      socket.once('error', reject);
    }),
  );
}
console.log(JSON.stringify(times));
