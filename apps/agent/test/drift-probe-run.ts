// Run inside a scratch network namespace by drift-probe.test.ts: applies a small
// state with a real Converger, then tampers with Tula's table and reports, for
// each tamper, what the next re-check found and whether the table holds the
// model again. Full read-backs are off (fullReadMaxElements 0), so only the
// per-resync check (structure + element probes) can find the drift.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDesiredState } from '@tula/protocol';
import { Converger } from '../src/dataplane/converge.ts';
import { StateDir } from '../src/state-dir.ts';

const nft = (...args: string[]) => execFileSync('nft', args, { encoding: 'utf8' });
const r = parseDesiredState({
  apiVersion: 'tula/v1',
  version: 1,
  balancer: {
    services: Array.from({ length: 3 }, (_, i) => ({
      name: `svc${i}`,
      vip: `10.99.0.${i + 1}`,
      port: 80,
      protocol: 'tcp',
      mode: 'l2',
      interface: 'eth0',
      backends: [1, 2].map((j) => ({ address: `172.31.${i}.${j}`, mac: `02:00:00:00:0${i}:0${j}` })),
    })),
  },
});
if (!r.ok) throw new Error(JSON.stringify(r.problems));
const state = r.value;
const converger = new Converger({
  stateDir: new StateDir(mkdtempSync(join(tmpdir(), 'tula-drift-probe-'))),
  facts: {
    interfaces: { eth0: { mac: '02:00:00:00:00:aa' } },
    serviceInterfaces: { svc0: 'eth0', svc1: 'eth0', svc2: 'eth0' },
    neighbours: {},
  },
  fullReadMaxElements: 0,
});
/** The table without handles or counters: what must come back after a repair. */
const table = () => nft('list', 'table', 'netdev', 'tula').replace(/counter packets \d+ bytes \d+/g, 'counter');
const fwdRule = () => {
  let chain = '';
  for (const line of nft('-a', 'list', 'table', 'netdev', 'tula').split('\n')) {
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c) chain = c[1]!;
    const m = /fwd to .* # handle (\d+)$/.exec(line);
    if (m) return { chain, handle: m[1]! };
  }
  throw new Error('no fwd rule in the table');
};
const tampers: Record<string, () => void> = {
  'flush lut': () => nft('flush', 'map', 'netdev', 'tula', 'lut'),
  'flush macs': () => nft('flush', 'map', 'netdev', 'tula', 'macs'),
  'delete one lut element': () => {
    const key = /elements = \{ ([^:]+?) :/.exec(nft('list', 'map', 'netdev', 'tula', 'lut'))![1]!;
    nft('delete', 'element', 'netdev', 'tula', 'lut', `{ ${key} }`);
  },
  'delete a rule': () => {
    const r = fwdRule();
    nft('delete', 'rule', 'netdev', 'tula', r.chain, 'handle', r.handle);
  },
  'add a foreign rule': () => nft('insert', 'rule', 'netdev', 'tula', fwdRule().chain, 'drop'),
  'add a foreign chain': () => nft('add', 'chain', 'netdev', 'tula', 'intruder'),
};

await converger.converge(state, [], { verifyKernel: true });
const clean = table();
const idle = await converger.converge(state, [], { verifyKernel: true });
const out: Record<string, { drift: string[]; rechecks: number; restored: boolean; after: string[] }> = {
  untouched: { drift: idle.drift, rechecks: 1, restored: table() === clean, after: [] },
};
// The lut holds 3 x 211 keys and each re-check probes 256 of them: a single missing
// key is found within 3 re-checks, a flushed set at the first.
const MAX_RECHECKS = 3;
for (const [name, tamper] of Object.entries(tampers)) {
  tamper();
  let found: string[] = [];
  let rechecks = 0;
  while (found.length === 0 && rechecks < MAX_RECHECKS) {
    rechecks++;
    found = (await converger.converge(state, [], { verifyKernel: true })).drift;
  }
  const again = await converger.converge(state, [], { verifyKernel: true });
  out[name] = { drift: found, rechecks, restored: table() === clean, after: again.drift };
}
console.log(JSON.stringify(out));
