// Run in the lab's client namespace by the fault-injection tests: sends one HTTP
// request on a new connection to --url every --interval ms (one at a time, each
// with a --timeout) until SIGTERM, then prints what happened as JSON:
// {sent, failed, failures: [{at, error}]}.
import { get } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { url: { type: 'string' }, interval: { type: 'string', default: '50' }, timeout: { type: 'string', default: '2000' } },
});
let sent = 0;
const failures: { at: string; error: string }[] = [];
let stopping = false;

function once(): Promise<void> {
  return new Promise((resolve) => {
    sent++;
    const fail = (error: string) => {
      failures.push({ at: new Date().toISOString(), error });
      resolve();
    };
    const req = get(values.url!, { agent: false, timeout: Number(values.timeout) }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : fail(`HTTP ${res.statusCode}`)));
      res.on('error', (e) => fail(e.message));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => fail(e.message));
  });
}

process.on('SIGTERM', () => (stopping = true));
while (!stopping) {
  await once();
  await new Promise((r) => setTimeout(r, Number(values.interval)));
}
console.log(JSON.stringify({ sent, failed: failures.length, failures }));
