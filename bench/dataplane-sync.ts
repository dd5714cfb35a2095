// Benchmark: the whole cycle an agent runs for one backend change, as the number
// of services grows: the convergence engine (model patch or build, drift check
// skipped as in the daemon's signalled runs, the one nft transaction, the host
// steps after the commit, saving applied.json and host.json) and the drain
// expiry the daemon runs after it, against a real kernel whose flow table holds
// 1,048,576 pinned flows. Needs root; it runs itself in a scratch network
// namespace. Run: npm run bench:sync
//   --full: 100 and 10,000 services (else 100 and 2,000); BENCH_ROUNDS (40) changes per case;
//   BENCH_SCRATCH=1: also the from-scratch load of 1,000 services x 16 backends.
// Profile: node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/dataplane-sync.ts --full --in-ns NS
// (inside an existing namespace), or BENCH_CPU_PROF=DIR, which passes those flags to the child.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDesiredState, type DesiredState, type DesiredStateInput } from '@tula/protocol';
import { buildModel, renderSync, type HostFacts } from '@tula/nft';
import { Converger } from '../apps/agent/src/dataplane/converge.ts';
import { StateDir } from '../apps/agent/src/state-dir.ts';
import { quantile } from '../test/support/measure.ts';

const full = process.argv.includes('--full');
const inNs = process.argv.indexOf('--in-ns');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 40);
const FLOWS = 1_048_576;

if (process.getuid?.() !== 0) {
  console.error('bench/dataplane-sync needs root (network namespaces and nftables)');
  process.exit(2);
}

function state(services: number, backends: number, version: number, change?: { service: number; state: 'draining' }): DesiredState {
  const list = Array.from({ length: services }, (_, i) => ({
    name: `svc${i}`,
    vip: vip(i),
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
  const r = parseDesiredState({ apiVersion: 'tula/v1', version, balancer: { services: list } } satisfies DesiredStateInput);
  if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
  return r.value;
}
const vip = (i: number) => `10.${(i >> 8) & 255}.${i & 255}.1`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => quantile(xs, 0.99);
const ms = (x: number) => `${x.toFixed(1)} ms`;
const sh = (argv: string[], input?: string) => execFileSync(argv[0]!, argv.slice(1), { input, maxBuffer: 1 << 30 });

/** A clean namespace: Tula's tables gone, eth0 (a veth) up, and the L2 VIPs already on it (see below). */
function freshHost(services: number) {
  sh(['nft', 'flush', 'ruleset']);
  try {
    sh(['ip', 'link', 'del', 'eth0']);
  } catch {
    // Not there yet.
  }
  sh(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
  sh(['ip', 'link', 'set', 'eth0', 'up']);
  sh(['ip', 'link', 'set', 'lo', 'up']);
  // The agent takes an L2 VIP onto its interface and announces it (arping) when it first appears; with
  // 10,000 VIPs that first apply would take many minutes of arping. Putting them there beforehand leaves
  // the check the agent makes at every new document (which VIPs are missing) and skips the announcing.
  sh(['ip', '-batch', '-'], Array.from({ length: services }, (_, i) => `addr add ${vip(i)}/32 dev eth0\n`).join(''));
}

/** Pins `count` flows in the flow table of the model's services, as a busy balancer holds them. */
function fillFlows(count: number, mark: number) {
  const batch = 100_000;
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    const elems = Array.from(
      { length: n },
      (_, i) => `${done + i} . ${((done + i) * 2654435761) >>> 0} timeout 900s : 0x${mark.toString(16)}`,
    );
    sh(['nft', '-f', '-'], `add element netdev tula flows4_tcp_${FLOWS} { ${elems.join(', ')} }\n`);
  }
}

interface Case {
  health: number[];
  drain: number[];
  builds: number;
  /** During the new-document rounds: documents patched, host facts read, host steps run. */
  patches: number;
  factReads: number;
  hostStepRuns: number;
}

/** One backend goes down and comes back (health: a model patch), and one is drained and undrained (a new document each time). */
async function oneChange(services: number, rounds: number): Promise<Case> {
  freshHost(services);
  const dir = mkdtempSync(join(tmpdir(), 'tula-sync-'));
  try {
    const converger = new Converger({ stateDir: new StateDir(dir), log: () => undefined });
    let version = 1;
    const base = state(services, 2, version);
    const first = await converger.converge(base, [], { verifyKernel: true });
    const victim = first.model.backends.find((b) => b.service === `svc${Math.floor(services / 2)}`)!;
    fillFlows(FLOWS, victim.mark);
    const health: number[] = [];
    const buildsBefore = converger.builds;
    for (let k = 0; k < rounds; k++) {
      const t0 = performance.now();
      // What the daemon does when a health check flips: converge with the one service patched, then expire drains.
      await converger.converge(base, k % 2 === 0 ? [`${victim.service}|${victim.address}`] : [], {
        healthChanged: new Set([victim.service]),
      });
      await converger.expireDrains(base);
      health.push(performance.now() - t0);
    }
    const builds = converger.builds - buildsBefore;
    const drain: number[] = [];
    const [patches, factReads, hostStepRuns] = [converger.documentPatches, converger.factReads, converger.hostStepRuns];
    for (let k = 0; k < rounds; k++) {
      // A drain set in the panel arrives as a whole new document (parsed before the cycle starts, as the
      // agent's socket handler does).
      const doc = state(services, 2, ++version, k % 2 === 0 ? { service: Math.floor(services / 3), state: 'draining' } : undefined);
      const t0 = performance.now();
      await converger.converge(doc, []);
      await converger.expireDrains(doc);
      drain.push(performance.now() - t0);
    }
    return {
      health,
      drain,
      builds,
      patches: converger.documentPatches - patches,
      factReads: converger.factReads - factReads,
      hostStepRuns: converger.hostStepRuns - hostStepRuns,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function fromScratch(services: number, backends: number) {
  freshHost(0);
  const doc = state(services, backends, 1);
  const facts: HostFacts = {
    interfaces: { eth0: { mac: '02:00:00:00:00:aa' } },
    serviceInterfaces: Object.fromEntries(Array.from({ length: services }, (_, i) => [`svc${i}`, 'eth0'])),
    neighbours: {},
    unhealthy: [],
  };
  let t = performance.now();
  const model = buildModel(doc, facts);
  const tModel = performance.now() - t;
  t = performance.now();
  const { script } = renderSync(undefined, model);
  const tRender = performance.now() - t;
  t = performance.now();
  sh(['nft', '-f', '-'], script);
  const tApply = performance.now() - t;
  console.log(
    `| ${services} x ${backends} from scratch | model ${ms(tModel)} | render ${ms(tRender)} | nft -f ${ms(tApply)} | ${(script.length / 1e6).toFixed(1)} MB script |`,
  );
}

async function main() {
  const largeN = full ? 10_000 : 2_000;
  const load = () => execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
  console.log(`load average at start: ${load()}`);
  // Interleaved runs, so drift in the machine's load hits both sizes alike.
  const small: Case[] = [];
  const large: Case[] = [];
  for (let r = 0; r < 3; r++) {
    small.push(await oneChange(100, ROUNDS));
    large.push(await oneChange(largeN, ROUNDS));
    console.log(`run ${r + 1} of 3 done; load average ${load()}`);
  }
  const all = (runs: Case[], k: 'health' | 'drain') => runs.flatMap((c) => c[k]);
  const row = (what: string, f: (xs: number[]) => number, k: 'health' | 'drain') => {
    const [a, b] = [f(all(small, k)), f(all(large, k))];
    console.log(`| ${what} | ${ms(a)} | ${ms(b)} | ${(b / a).toFixed(2)} |`);
  };
  console.log(
    `\n| one backend change, whole agent cycle, ${FLOWS.toLocaleString('en')} pinned flows | 100 services | ${largeN.toLocaleString('en')} services | ratio |`,
  );
  console.log('| --- | --- | --- | --- |');
  row('health down/up (model patch), median', median, 'health');
  row('health down/up, p99', p99, 'health');
  row('drain via a new document, median', median, 'drain');
  row('drain via a new document, p99', p99, 'drain');
  const sum = (k: 'builds' | 'patches' | 'factReads' | 'hostStepRuns') => large.reduce((n, c) => n + c[k], 0);
  console.log(`\nfull model builds during the health rounds: ${sum('builds')} (expected 0)`);
  console.log(
    `new documents at ${largeN.toLocaleString('en')}: ${sum('patches')} of ${3 * ROUNDS} patched, host facts read ${sum('factReads')} times, host steps run ${sum('hostStepRuns')} times`,
  );
  console.log(`load average at the end: ${load()}`);
  if (process.env.BENCH_SCRATCH === '1') {
    console.log('\n| case | | | | |\n| --- | --- | --- | --- | --- |');
    fromScratch(1000, 16);
  }
}

if (inNs < 0) {
  // Parent: a scratch namespace, and this script again inside it (the agent's code runs `nft` and `ip` as they are).
  const ns = `pb-sync-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        ...prof,
        '--import',
        'tsx',
        fileURLToPath(import.meta.url),
        ...process.argv.slice(2),
        '--in-ns',
        ns,
      ],
      { stdio: 'inherit' },
    );
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
} else {
  await main();
}
