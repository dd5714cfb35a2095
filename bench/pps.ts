// Benchmark: what the balancer itself forwards, in packets per second, which
// DSR's response throughput never shows. Small packets (64-byte UDP with a new
// source port and address each, and TCP SYNs: new flows per second) through L2
// DSR, L3 DSR (VXLAN), Tula NAT, and plain kernel forwarding of the same path
// without Tula, side by side in one run, with 1, 1,000 and 10,000 services and
// the flow table full. Needs root and trafgen (Debian package netsniff-ng).
// Run: npm run bench:pps   (BENCH_SECONDS, default 3, per measurement)
//
// Lab: namespace `dpp-gen` runs trafgen pinned to one CPU and is also the
// backend: the balancer (`dpp-lb`, the agent applying real rules) or the plain
// forwarder (`dpp-fw`, no nftables at all) sends every packet back to it, and
// its netdev ingress hook counts and drops them. With veth, all of a packet's
// work (trafgen, the forwarder, the return) runs on the generator's CPU in
// softirq, so the delivered rate divided by that CPU's busy share is the rate
// one busy core sustains, generator included: the same for every path, so the
// ratio to plain forwarding is the figure to read.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DesiredStateInput } from '@tula/protocol';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const AGENT = `${repoRoot}node_modules/.bin/tula-agent`;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const SIZES = (process.env.BENCH_SIZES ?? '1,1000,10000').split(',').map(Number);
/** The CPU trafgen (and with it every packet's softirq work) runs on. */
const CPU = 0;

if (process.getuid?.() !== 0) {
  console.error('bench:pps needs root (network namespaces, nftables)');
  process.exit(1);
}
try {
  // `trafgen -v` exits non-zero; ask the shell whether it is there.
  execFileSync('sh', ['-c', 'command -v trafgen && command -v hping3'], { stdio: 'ignore' });
} catch {
  console.error('bench:pps needs trafgen and hping3: apt-get install netsniff-ng hping3');
  process.exit(1);
}

const sh = (argv: string[], input?: string) => execFileSync(argv[0]!, argv.slice(1), { input, maxBuffer: 1 << 28 }).toString();
const inNs = (ns: string, argv: string[], input?: string) => sh(['ip', 'netns', 'exec', ns, ...argv], input);
const GEN = 'pb-gen';
const LB = 'pb-lb';
const FW = 'pb-fw';
/** A balancer reduced to one hand-written netdev `fwd` rule: the floor of any nft ingress forwarder. */
const HW = 'pb-hw';
const MAC = {
  gen: '02:62:00:00:00:01',
  lb: '02:62:00:00:00:02',
  gen1: '02:62:00:00:01:01',
  fw: '02:62:00:00:01:02',
  gen2: '02:62:00:00:02:01',
  hw: '02:62:00:00:02:02',
};
const BACKEND = '10.62.0.3';
const VIP = {
  l2: '10.62.0.100',
  l3: '10.62.1.100',
  nat: '10.62.0.101',
  plain: '10.62.2.100',
  plainVxlan: '10.62.4.100',
  hw: '10.62.5.100',
};
const PORT = { udp: 5000, tcp: 80 };

function lab() {
  for (const ns of [GEN, LB, FW, HW]) {
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      // Not there.
    }
    sh(['ip', 'netns', 'add', ns]);
    inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  // gen e0 <-> lb e0 (Tula), gen e1 <-> fw e0 (plain forwarding).
  sh(['ip', '-n', GEN, 'link', 'add', 'e0', 'address', MAC.gen, 'type', 'veth', 'peer', 'name', 'e0', 'address', MAC.lb, 'netns', LB]);
  sh(['ip', '-n', GEN, 'link', 'add', 'e1', 'address', MAC.gen1, 'type', 'veth', 'peer', 'name', 'e0', 'address', MAC.fw, 'netns', FW]);
  sh(['ip', '-n', GEN, 'link', 'add', 'e2', 'address', MAC.gen2, 'type', 'veth', 'peer', 'name', 'e0', 'address', MAC.hw, 'netns', HW]);
  for (const [ns, dev, addr] of [
    [GEN, 'e0', '10.62.0.1/24'],
    [GEN, 'e0', `${BACKEND}/24`],
    [GEN, 'e1', '10.62.3.1/24'],
    [LB, 'e0', '10.62.0.2/24'],
    [FW, 'e0', '10.62.3.2/24'],
    [GEN, 'e2', '10.62.5.1/24'],
    [HW, 'e0', '10.62.5.2/24'],
  ] as const) {
    inNs(ns, ['ip', 'addr', 'add', addr, 'dev', dev]);
    inNs(ns, ['ip', 'link', 'set', dev, 'up']);
  }
  // No ARP during a run: every neighbour is static.
  inNs(LB, ['ip', 'neigh', 'replace', BACKEND, 'lladdr', MAC.gen, 'dev', 'e0', 'nud', 'permanent']);
  inNs(FW, ['ip', 'neigh', 'replace', '10.62.3.1', 'lladdr', MAC.gen1, 'dev', 'e0', 'nud', 'permanent']);
  inNs(FW, ['ip', 'route', 'add', '10.62.2.0/24', 'via', '10.62.3.1']);
  // Plain forwarding into a VXLAN tunnel, as Tula's L3 path does but without Tula: the same kind of
  // device (external, collect-metadata, UDP 4789) and a route with the same encapsulation.
  inNs(FW, ['ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'external', 'dstport', '4789']);
  inNs(FW, ['ip', 'link', 'set', 'vx0', 'arp', 'off', 'up']);
  inNs(FW, ['ip', 'route', 'add', '10.62.4.0/24', 'encap', 'ip', 'id', '4242', 'dst', '10.62.3.1', 'dev', 'vx0']);
  // The generator's stack (hping3) never sees ARP replies: its ingress drops all.
  inNs(GEN, ['ip', 'neigh', 'replace', VIP.l2, 'lladdr', MAC.lb, 'dev', 'e0', 'nud', 'permanent']);
  for (const ns of [LB, FW]) {
    for (const k of [
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.e0.rp_filter=0',
      'net.ipv4.conf.all.send_redirects=0',
      'net.ipv4.conf.e0.send_redirects=0',
    ])
      inNs(ns, ['sysctl', '-qw', k]);
  }
  // The generator is the backend: what comes back is counted and dropped before its stack.
  inNs(
    GEN,
    ['nft', '-f', '-'],
    'table netdev sink {\n' +
      ['e0', 'e1', 'e2'].map((d) => ` chain ${d} { type filter hook ingress device "${d}" priority 0; policy drop; }\n`).join('') +
      '}\n',
  );
  inNs(
    HW,
    ['nft', '-f', '-'],
    `table netdev hw {\n chain e0 { type filter hook ingress device "e0" priority 0; ip daddr ${VIP.hw} ether saddr set ${MAC.hw} ether daddr set ${MAC.gen2} fwd to "e0"; }\n}\n`,
  );
}

function doc(services: number, version: number): DesiredStateInput {
  const backend = { address: BACKEND };
  const target = (name: string, mode: 'l2' | 'l3' | 'nat', vip: string, protocol: 'udp' | 'tcp') => ({
    name,
    vip,
    port: PORT[protocol],
    protocol,
    mode,
    interface: 'e0',
    ...(mode === 'l3' && { tunnel: 'vxlan' as const }),
    backends: [mode === 'l2' ? { ...backend, mac: MAC.gen } : backend],
  });
  const targets = [
    target('l2-udp', 'l2', VIP.l2, 'udp'),
    target('l2-tcp', 'l2', VIP.l2, 'tcp'),
    target('l3-udp', 'l3', VIP.l3, 'udp'),
    target('l3-tcp', 'l3', VIP.l3, 'tcp'),
    target('nat-udp', 'nat', VIP.nat, 'udp'),
    target('nat-tcp', 'nat', VIP.nat, 'tcp'),
  ];
  // The other services share the L2 VIP on other ports: the dispatch map the targets are found in holds them all.
  const others = Array.from({ length: Math.max(0, services - targets.length) }, (_, i) => ({
    ...target(`other${i}`, 'l2', VIP.l2, 'udp'),
    port: 10_000 + i,
  }));
  return { apiVersion: 'tula/v1', version, balancer: { services: [...targets, ...others] } };
}

const dir = mkdtempSync(join(tmpdir(), 'tula-pps-'));
function apply(services: number, version: number) {
  const file = join(dir, 'desired.json');
  writeFileSync(file, JSON.stringify(doc(services, version)));
  const t = performance.now();
  inNs(LB, [AGENT, 'apply', '--state', file, '--state-dir', join(dir, 'state')]);
  return performance.now() - t;
}

type Kind = 'udp' | 'syn' | 'ack';
interface Path {
  dev: string;
  dstMac: string;
  srcMac: string;
  vip: string;
}

/** Each trafgen run takes its own /16 of source addresses (11.n.0.0/16), so no run repeats an earlier run's flows. */
let sourceBlock = 0;
function trafgenConfig(path: Path, kind: Kind) {
  // A new flow every packet: the source address (within the run's /16) and the source port both count up,
  // so a (address, port) pair comes back only after lcm(65,536, 64,512) = 4.1 M packets.
  const base = 0x0b000000 + (sourceBlock++ % 256) * 0x10000;
  const ip = `ipv4(sa=dinc(${base}, ${base + 0xffff}), da=${path.vip}, ttl=64)`;
  const l4 =
    kind === 'udp'
      ? `udp(sp=dinc(1024, 65535), dp=${PORT.udp}), fill(0x00, 18)`
      : `tcp(sp=dinc(1024, 65535), dp=${PORT.tcp}, ${kind === 'syn' ? 'syn' : 'ack'}, seq=drnd(), win=64240)`;
  return `{ eth(da=${path.dstMac}, sa=${path.srcMac}), ${ip}, ${l4} }`;
}

const linkStats = (dev: string) =>
  (
    JSON.parse(inNs(GEN, ['ip', '-j', '-s', 'link', 'show', dev])) as { stats64: { rx: { packets: number }; tx: { packets: number } } }[]
  )[0]!.stats64;

const TICK = 100; // USER_HZ: /proc/<pid>/stat times are in these.
/** CPU seconds used by the processes of a process group (every thread counted), and by ksoftirqd on CPU. */
function groupCpu(pgid: number): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // Gone meanwhile.
    }
    // Fields after the command (which may hold spaces) in parentheses: state is field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [pgrp, utime, stime] = [Number(f[2]), Number(f[11]), Number(f[12])];
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (pgrp === pgid || comm === `ksoftirqd/${CPU}`) ticks += utime + stime;
  }
  return ticks / TICK;
}

function counterSum(set: string): number {
  try {
    const out = JSON.parse(inNs(LB, ['nft', '-j', 'list', 'set', 'netdev', 'tula', set])) as {
      nftables: { set?: { elem?: { elem: { counter: { packets: number } } }[] } }[];
    };
    return out.nftables.flatMap((o) => o.set?.elem ?? []).reduce((n, e) => n + e.elem.counter.packets, 0);
  } catch {
    return 0;
  }
}
const flowsFull = () => counterSum('svc_flows_full');

function conntrackCount(): number {
  try {
    return Number(inNs(LB, ['cat', '/proc/sys/net/netfilter/nf_conntrack_count']).trim());
  } catch {
    return NaN;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  /** Packets back at the generator per second of wall time. */
  pps: number;
  /** Packets per CPU second of the generator's process group and ksoftirqd: every packet's whole path. */
  perCore: number;
  /** The share of the CPU our processes got (the rest went to other jobs on the machine). */
  share: number;
  /** New flows per second that the full flow table could not pin. */
  full: number;
}

function startTrafgen(path: Path, kind: Kind) {
  const conf = join(dir, `${kind}-${sourceBlock}.cfg`);
  writeFileSync(conf, trafgenConfig(path, kind));
  const child = spawn('ip', ['netns', 'exec', GEN, 'taskset', '-c', String(CPU), 'trafgen', '-o', path.dev, '-c', conf, '--cpus', '1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let said = '';
  child.stderr.on('data', (d: Buffer) => (said += d.toString()));
  return {
    pgid: child.pid!,
    said: () => said,
    // trafgen works in a forked child that a signal to the parent does not stop: end the whole group.
    stop: async () => {
      process.kill(-child.pid!, 'SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** BENCH_PERF=DIR: a kernel profile (`perf record -C CPU`) of every measurement, for `perf report --comm trafgen`. */
const PERF = process.env.BENCH_PERF;
async function measure(path: Path, kind: Kind, seconds = SECONDS, label = ''): Promise<Result> {
  const gen = startTrafgen(path, kind);
  try {
    await sleep(1000);
    const perf = PERF
      ? spawn(
          'perf',
          ['record', '-q', '-C', String(CPU), '-o', join(PERF, `${label || path.vip}-${kind}.data`), '--', 'sleep', String(seconds)],
          {
            stdio: 'ignore',
          },
        )
      : undefined;
    const [r0, g0, f0, t0] = [linkStats(path.dev), groupCpu(gen.pgid), flowsFull(), performance.now()];
    await sleep(seconds * 1000);
    const [r1, g1, f1, t1] = [linkStats(path.dev), groupCpu(gen.pgid), flowsFull(), performance.now()];
    if (perf) await new Promise((r) => (perf.exitCode === null ? perf.once('exit', r) : r(null)));
    const wall = (t1 - t0) / 1000;
    const packets = r1.rx.packets - r0.rx.packets;
    // Tula NAT can deliver nothing: its masquerade runs out of source ports (see docs/benchmarks.md).
    if (packets < 1)
      console.log(`  nothing came back to ${path.dev} from ${path.vip} (${kind}); trafgen said: ${gen.said().slice(-200) || '(nothing)'}`);
    const cpu = g1 - g0;
    return {
      pps: packets / wall,
      perCore: packets / Math.max(cpu, 0.01),
      share: cpu / wall,
      full: (f1 - f0) / wall,
    };
  } finally {
    await gen.stop();
  }
}

/** Sends new flows of `kind` until the flow table refuses them (full), at most `limit` seconds. */
async function fill(path: Path, kind: Kind, limit = 40): Promise<{ seconds: number; full: boolean }> {
  const gen = startTrafgen(path, kind);
  const t0 = performance.now();
  try {
    let before = flowsFull();
    while ((performance.now() - t0) / 1000 < limit) {
      await sleep(1000);
      const now = flowsFull();
      if (now - before > 1000) return { seconds: (performance.now() - t0) / 1000, full: true };
      before = now;
    }
    return { seconds: limit, full: false };
  } finally {
    await gen.stop();
  }
}

/** What hping3 --flood (the SYN-flood test's tool) sustains through the L2 VIP: SYNs delivered per second. */
async function hpingFlood(seconds = SECONDS): Promise<number> {
  const child = spawn(
    'ip',
    ['netns', 'exec', GEN, 'taskset', '-c', String(CPU), 'hping3', '-q', '-S', '-p', String(PORT.tcp), '--rand-source', '--flood', VIP.l2],
    { stdio: 'ignore', detached: true },
  );
  await sleep(1000);
  const [r0, t0] = [linkStats('e0'), performance.now()];
  await sleep(seconds * 1000);
  const [r1, t1] = [linkStats('e0'), performance.now()];
  // The flood is ended as trafgen is: the whole process group.
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return (r1.rx.packets - r0.rx.packets) / ((t1 - t0) / 1000);
}

const viaLb = (vip: string): Path => ({ dev: 'e0', dstMac: MAC.lb, srcMac: MAC.gen, vip });
const plainPath = (vip: string): Path => ({ dev: 'e1', dstMac: MAC.fw, srcMac: MAC.gen1, vip });
const PATHS = [
  ['plain forwarding', plainPath(VIP.plain)],
  ['plain forwarding into VXLAN', plainPath(VIP.plainVxlan)],
  ['one hand-written netdev fwd rule', { dev: 'e2', dstMac: MAC.hw, srcMac: MAC.gen2, vip: VIP.hw }],
  ['L2 DSR', viaLb(VIP.l2)],
  ['L3 DSR (vxlan)', viaLb(VIP.l3)],
  ['Tula NAT', viaLb(VIP.nat)],
] as const;
type PathName = (typeof PATHS)[number][0];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** Deletes the rules of Tula's netdev table whose text matches any of the patterns. */
function stripRules(patterns: RegExp[]) {
  if (patterns.length === 0) return;
  let chain = '';
  const deletes: string[] = [];
  for (const line of inNs(LB, ['nft', '-a', '-t', 'list', 'table', 'netdev', 'tula']).split('\n')) {
    const c = /^\s*chain (\S+) \{/.exec(line);
    if (c) chain = c[1]!;
    const h = /# handle (\d+)$/.exec(line);
    if (h && !/^\s*(chain|map|set) /.test(line) && patterns.some((p) => p.test(line)))
      deletes.push(`delete rule netdev tula ${chain} handle ${h[1]}`);
  }
  inNs(LB, ['nft', '-f', '-'], `${deletes.join('\n')}\n`);
}
const COUNTERS = [/@svc_packets/, /@svc_new/, /@backend_new/, /@backend_packets/];
const VARIANTS: [string, RegExp[]][] = [
  ['L2 DSR, Tula as is (again)', []],
  ['L2 DSR without the 4 counting lookups', COUNTERS],
  ['L2 DSR without counters and without the flow table (Maglev only)', [...COUNTERS, /@flows4_udp/, /@svc_flows_full/]],
];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const k = (x: number) => `${Math.round(x / 1000).toLocaleString('en-US')}k`;
const rows: string[] = [];
const loads: string[] = [];
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
try {
  lab();
  let version = 1;
  for (const size of SIZES) {
    const took = apply(size, version++);
    loads.push(load());
    console.log(`${size} services applied in ${(took / 1000).toFixed(1)} s; load average ${load()}`);
    // A full flow table: UDP (300 s timeout) filled with datagrams, TCP (900 s for established flows)
    // filled with ACKs of flows it never saw (a non-SYN packet pins with the established timeout).
    for (const kind of ['udp', 'ack'] as const) {
      const f = await fill(viaLb(VIP.l2), kind);
      console.log(`  ${kind === 'udp' ? 'UDP' : 'TCP'} flow table ${f.full ? 'full' : 'NOT full'} after ${f.seconds.toFixed(0)} s`);
    }
    if (size === SIZES[0] && process.env.BENCH_HPING !== '0') {
      try {
        console.log(`  hping3 --flood -S --rand-source through L2 DSR: ${k(await hpingFlood())} SYN/s delivered`);
      } catch (err) {
        console.log(`  hping3 flood not measured: ${String(err)}`);
      }
    }
    for (const kind of ['udp', 'syn'] as const) {
      // The paths take turns, ROUNDS times; each figure is the median of its rounds.
      const got = new Map<PathName, Result[]>(PATHS.map(([n]) => [n, []]));
      for (let round = 0; round < ROUNDS; round++) {
        for (const [name, path] of PATHS)
          got.get(name)!.push(await measure(path, kind, SECONDS, `${size}-${name.replace(/\W+/g, '_')}-r${round}`));
      }
      const med = (name: PathName) => {
        const rs = got.get(name)!;
        return {
          pps: median(rs.map((r) => r.pps)),
          perCore: median(rs.map((r) => r.perCore)),
          share: median(rs.map((r) => r.share)),
          full: median(rs.map((r) => r.full)),
        };
      };
      const plain = med('plain forwarding').perCore;
      const plainVx = med('plain forwarding into VXLAN').perCore;
      for (const [name] of PATHS) {
        const r = med(name);
        const vsVx = name === 'L3 DSR (vxlan)' ? ` (${(r.perCore / plainVx).toFixed(2)} of plain into VXLAN)` : '';
        const row = `| ${size.toLocaleString('en-US')} | ${kind === 'udp' ? '64-byte UDP' : 'TCP SYN'} | ${name} | ${k(r.pps)} | ${Math.round(r.share * 100)} % | ${k(r.perCore)} | **${(r.perCore / plain).toFixed(2)}**${vsVx} | ${name.startsWith('plain') || name.startsWith('one') ? '' : k(r.full)} |`;
        console.log(row);
        rows.push(row);
      }
      console.log(`  conntrack entries on the balancer: ${conntrackCount()}`);
    }
    // Where L2 DSR's cost goes: Tula's rules with parts deleted by hand, each beside plain forwarding.
    for (const [variant, strip] of VARIANTS) {
      stripRules(strip);
      const plain: Result[] = [];
      const l2: Result[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        plain.push(await measure(plainPath(VIP.plain), 'udp'));
        l2.push(await measure(viaLb(VIP.l2), 'udp'));
      }
      const [p, r] = [median(plain.map((x) => x.perCore)), median(l2.map((x) => x.perCore))];
      const row = `| ${size.toLocaleString('en-US')} | 64-byte UDP | ${variant} | ${k(median(l2.map((x) => x.pps)))} | ${Math.round(median(l2.map((x) => x.share)) * 100)} % | ${k(r)} | **${(r / p).toFixed(2)}** (plain: ${k(p)}) | ${k(median(l2.map((x) => x.full)))} |`;
      console.log(row);
      rows.push(row);
    }
    // Put Tula's rules back (apply repairs what differs from the model) for the next size.
    apply(size, version++);
  }
} finally {
  for (const ns of [GEN, LB, FW, HW]) {
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      // Gone.
    }
  }
}
console.log(`\nload average at each size: ${loads.join(' | ')}; now ${load()}`);
console.log(
  '\n| services | packets | path | delivered pps | CPU share we got | pps per busy core | ratio to plain forwarding | new flows not pinned (table full) per s |',
);
console.log('| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(r);
