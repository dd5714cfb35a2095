// Benchmark: rendering and applying Tula's nft tables at scale, and the cost of
// one backend change as the number of services grows. Needs root (it works in a
// scratch network namespace). Run: npm run bench:sync
import { execFileSync } from 'node:child_process';
import { parseDesiredState, type DesiredState, type DesiredStateInput } from '@tula/protocol';
import { buildModel, ModelCache, patchModel, renderSync, type DataplaneModel, type HostFacts } from '@tula/nft';
import { quantile } from '../test/support/measure.ts';

const NS = `tula-bench-${process.pid}`;
const sh = (argv: string[], input?: string) => execFileSync(argv[0]!, argv.slice(1), { input, maxBuffer: 1 << 30 });
const nft = (script: string) => {
  if (script) sh(['ip', 'netns', 'exec', NS, 'nft', '-f', '-'], script);
};

function state(services: number, backends: number, change?: { service: number; state: 'draining' }): DesiredState {
  const list = Array.from({ length: services }, (_, i) => ({
    name: `svc${i}`,
    vip: `10.${(i >> 8) & 255}.${i & 255}.1`,
    port: 80,
    protocol: 'tcp' as const,
    mode: 'l2' as const,
    interface: 'eth0',
    backends: Array.from({ length: backends }, (_, j) => ({
      address: `172.16.${j}.${(i % 250) + 1}`,
      mac: `02:00:00:00:${j.toString(16).padStart(2, '0')}:01`,
      ...(change && change.service === i && j === 0 ? { state: change.state } : {}),
    })),
  }));
  const r = parseDesiredState({ apiVersion: 'tula/v1', version: 1, balancer: { services: list } } satisfies DesiredStateInput);
  if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
  return r.value;
}

function facts(services: number, unhealthy: string[] = []): HostFacts {
  return {
    interfaces: { eth0: { mac: '02:00:00:00:00:aa' } },
    serviceInterfaces: Object.fromEntries(Array.from({ length: services }, (_, i) => [`svc${i}`, 'eth0'])),
    neighbours: {},
    unhealthy,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => quantile(xs, 0.99);
const ms = (x: number) => `${x.toFixed(1)} ms`;

function fresh() {
  try {
    execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  } catch {
    // Not there yet.
  }
  sh(['ip', 'netns', 'add', NS]);
  sh(['ip', '-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
}

function fromScratch(services: number, backends: number) {
  fresh();
  const doc = state(services, backends);
  let t = performance.now();
  const model = buildModel(doc, facts(services));
  const tModel = performance.now() - t;
  t = performance.now();
  const { script } = renderSync(undefined, model);
  const tRender = performance.now() - t;
  t = performance.now();
  nft(script);
  const tApply = performance.now() - t;
  const elements = model.tables.reduce((n, tb) => n + [...tb.fragments.values()].reduce((a, f) => a + [...f.elements.values()].reduce((b, m) => b + m.size, 0), 0), 0);
  console.log(
    `| ${services} x ${backends} from scratch | model ${ms(tModel)} | render ${ms(tRender)} | nft -f ${ms(tApply)} | ${elements.toLocaleString('en')} elements, ${(script.length / 1e6).toFixed(1)} MB script |`,
  );
}

/** One backend goes down and comes back (health), and one is drained (a new document). */
function oneChange(services: number, rounds: number) {
  fresh();
  const cache = new ModelCache();
  const base = state(services, 2);
  let current: DataplaneModel = buildModel(base, facts(services), cache);
  nft(renderSync(undefined, current).script);
  const victim = `svc${Math.floor(services / 2)}|172.16.0.${(Math.floor(services / 2) % 250) + 1}`;
  const totals: number[] = [];
  const nftOnly: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const t0 = performance.now();
    // What the agent does when a health check flips: patch the one service.
    const next = patchModel(base, k % 2 === 0 ? [victim] : [], new Set([victim.split('|')[0]!]), cache)!;
    const { script } = renderSync(current, next);
    const t1 = performance.now();
    nft(script);
    const t2 = performance.now();
    totals.push(t2 - t0);
    nftOnly.push(t2 - t1);
    current = next;
  }
  const drainDocs = [state(services, 2, { service: Math.floor(services / 3), state: 'draining' }), base];
  const drains: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const doc = drainDocs[k % 2]!;
    const t0 = performance.now();
    const next = buildModel(doc, { ...facts(services), previousIds: current.ids, previousServiceIds: current.serviceIds }, cache);
    nft(renderSync(current, next).script);
    drains.push(performance.now() - t0);
    current = next;
  }
  return { health: { median: median(totals), p99: p99(totals), nft: median(nftOnly) }, drain: { median: median(drains), p99: p99(drains) } };
}

if (process.getuid?.() !== 0) {
  console.error('bench/dataplane-sync needs root (network namespaces and nftables)');
  process.exit(2);
}
const full = process.argv.includes('--full');
const largeN = full ? 10_000 : 2_000;
// Interleaved rounds, so drift in the machine's load hits both sizes alike.
const smallRuns: ReturnType<typeof oneChange>[] = [];
const largeRuns: ReturnType<typeof oneChange>[] = [];
for (let r = 0; r < 3; r++) {
  smallRuns.push(oneChange(100, 40));
  largeRuns.push(oneChange(largeN, 40));
}
const pick = (runs: ReturnType<typeof oneChange>[]) => ({
  health: {
    median: median(runs.map((x) => x.health.median)),
    p99: median(runs.map((x) => x.health.p99)),
    nft: median(runs.map((x) => x.health.nft)),
  },
  drain: { median: median(runs.map((x) => x.drain.median)), p99: median(runs.map((x) => x.drain.p99)) },
});
const small = pick(smallRuns);
const large = pick(largeRuns);
console.log('\n| one backend change | 100 services | ' + `${largeN} services | ratio |\n| --- | --- | --- | --- |`);
console.log(`| health down/up (model + diff + nft), median | ${ms(small.health.median)} | ${ms(large.health.median)} | ${(large.health.median / small.health.median).toFixed(2)} |`);
console.log(`| health down/up, p99 | ${ms(small.health.p99)} | ${ms(large.health.p99)} | ${(large.health.p99 / small.health.p99).toFixed(2)} |`);
console.log(`| of which nft -f, median | ${ms(small.health.nft)} | ${ms(large.health.nft)} | ${(large.health.nft / small.health.nft).toFixed(2)} |`);
console.log(`| drain via a new document (model + diff + nft), median | ${ms(small.drain.median)} | ${ms(large.drain.median)} | ${(large.drain.median / small.drain.median).toFixed(2)} |`);
console.log('\n| case | | | | |\n| --- | --- | --- | --- | --- |');
fromScratch(1000, 16);
sh(['ip', 'netns', 'del', NS]);
