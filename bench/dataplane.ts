// Benchmark: the DSR advantage against the classic path, side by side in one run.
// In the namespace lab (client - router - balancer + 3 backends) it measures five
// paths: direct (client to backends, no balancer), L2 DSR, L3 DSR (VXLAN), Tula's
// NAT mode, and HAProxy in TCP mode on the balancer; each with the balancer's link
// uncapped and capped by tc. Needs root. Run: npm run bench:dataplane
//
// Per path and cap it reports response throughput (iperf3 -R, and parallel HTTP
// downloads of 10 MB objects), the bytes and packets the balancer's link carried
// per response byte, the machine's CPU time per GB delivered (kernel forwarding
// has no per-namespace CPU account, so the whole machine's /proc/stat is read;
// HAProxy's own process time is shown beside it), and TCP connect time p50/p99.
// The paths take turns over several rounds, so a noisy moment on this shared
// machine does not land on one path; each figure is the median of its rounds.
// Then bench/ha.ts: two balancers against one under a link cap, and failover with
// and without BFD (BENCH_ONLY=ha runs only that part).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab, type LabHost } from '@tula/netlab';
import { chromium } from '@playwright/test';
import { cpuSeconds, quantile } from '../test/support/measure.ts';
import { benchHa, haSummary } from './ha.ts';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const AGENT = `${repoRoot}node_modules/.bin/tula-agent`;
const CAP = process.env.BENCH_CAP ?? '1gbit';
const DOWNLOADS = Number(process.env.BENCH_DOWNLOADS ?? 60);
const PARALLEL = 6;
const OBJECT = 10 * 1024 * 1024;
const IPERF_SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 8);
const CONNECTS = 200;
/** Rounds over all paths, interleaved; the table gives each figure's median. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CHART = process.argv[2] ?? `${repoRoot}docs/images/bench-dataplane.png`;

if (process.getuid?.() !== 0) {
  console.error('bench:dataplane needs root (network namespaces, nftables, tc): sudo npm run bench:dataplane');
  process.exit(1);
}
for (const [bin, pkg] of [
  ['haproxy', 'haproxy'],
  ['iperf3', 'iperf3'],
  ['tc', 'iproute2'],
  ['curl', 'curl'],
] as const) {
  try {
    execFileSync('sh', ['-c', 'command -v "$0"', bin], { stdio: 'ignore' });
  } catch {
    console.log(`installing ${pkg} (Debian package)`);
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
}

interface Path {
  name: string;
  /** HTTP URLs the downloads go to (round-robin), and the iperf3 server. */
  http: string[];
  iperf: string;
  connect: string;
}

const PATHS = (lab: Lab): Path[] => {
  const lb = lab.balancers[0]!;
  return [
    {
      name: 'direct',
      http: lab.backends.map((b) => `http://${b.v4}/`),
      iperf: `${lab.backends[0]!.v4}:5201`,
      connect: `${lab.backends[0]!.v4}:80`,
    },
    { name: 'L2 DSR', http: [`http://${LAB.l2Vip.v4}/`], iperf: `${LAB.l2Vip.v4}:5201`, connect: `${LAB.l2Vip.v4}:80` },
    { name: 'L3 DSR (vxlan)', http: [`http://${LAB.l3Vip.v4}/`], iperf: `${LAB.l3Vip.v4}:5201`, connect: `${LAB.l3Vip.v4}:80` },
    { name: 'Tula NAT', http: [`http://${LAB.l2Vip.v4}:8080/`], iperf: `${LAB.l2Vip.v4}:5202`, connect: `${LAB.l2Vip.v4}:8080` },
    { name: 'HAProxy (TCP)', http: [`http://${lb.v4}:8081/`], iperf: `${lb.v4}:5203`, connect: `${lb.v4}:8081` },
  ];
};

function balancerDoc(lab: Lab): DesiredStateInput {
  const all = lab.backends.map((b) => ({ address: b.v4 }));
  // iperf3 needs its control and data connections on one server: b1 only.
  const b1 = [{ address: lab.backends[0]!.v4 }];
  return {
    apiVersion: 'tula/v1',
    version: 1,
    balancer: {
      services: [
        { name: 'l2-http', vip: LAB.l2Vip.v4, port: 80, protocol: 'tcp', mode: 'l2', backends: all },
        { name: 'l2-iperf', vip: LAB.l2Vip.v4, port: 5201, protocol: 'tcp', mode: 'l2', backends: b1 },
        { name: 'l3-http', vip: LAB.l3Vip.v4, port: 80, protocol: 'tcp', mode: 'l3', tunnel: 'vxlan', backends: all },
        { name: 'l3-iperf', vip: LAB.l3Vip.v4, port: 5201, protocol: 'tcp', mode: 'l3', tunnel: 'vxlan', backends: b1 },
        {
          name: 'nat-http',
          vip: LAB.l2Vip.v4,
          port: 8080,
          protocol: 'tcp',
          mode: 'nat',
          backends: lab.backends.map((b) => ({ address: b.v4, port: 80 })),
        },
        {
          name: 'nat-iperf',
          vip: LAB.l2Vip.v4,
          port: 5202,
          protocol: 'tcp',
          mode: 'nat',
          backends: [{ address: lab.backends[0]!.v4, port: 5201 }],
        },
      ],
    },
  };
}

function backendDoc(lab: Lab): DesiredStateInput {
  const balancers = lab.balancers.map((b) => b.v4);
  return {
    apiVersion: 'tula/v1',
    version: 1,
    backend: {
      vips: [
        { vip: LAB.l2Vip.v4, mode: 'l2', balancers },
        { vip: LAB.l3Vip.v4, mode: 'l3', tunnel: 'vxlan', balancers, mss: 1400 },
      ],
    },
  };
}

async function apply(lab: Lab, host: LabHost, doc: DesiredStateInput, dir: string) {
  const file = join(dir, `${host.name}.json`);
  writeFileSync(file, JSON.stringify(doc));
  await lab.exec(host.ns, [AGENT, 'apply', '--state', file, '--state-dir', join(dir, `${host.name}-state`)]);
}

function haproxyConfig(lab: Lab): string {
  const lb = lab.balancers[0]!;
  const servers = (port: number, hosts: LabHost[]) => hosts.map((b) => `  server ${b.name} ${b.v4}:${port}`).join('\n');
  return [
    'global',
    '  maxconn 4000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    'listen http',
    `  bind ${lb.v4}:8081`,
    '  balance roundrobin',
    servers(80, lab.backends),
    'listen iperf',
    `  bind ${lb.v4}:5203`,
    servers(5201, [lab.backends[0]!]),
    '',
  ].join('\n');
}

/** Busy CPU time of the whole machine, in seconds (USER_HZ = 100). */
function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) / 100;
}

interface Result {
  path: string;
  capped: boolean;
  iperfGbps: number;
  httpGbps: number;
  lbBytesPerByte: number;
  lbPacketsPerMB: number;
  cpuSecondsPerGB: number;
  haproxySecondsPerGB: number | null;
  connectP50: number;
  connectP99: number;
}

async function measure(lab: Lab, path: Path, capped: boolean, haproxy: ChildProcess): Promise<Result> {
  const lb = lab.balancers[0]!;
  // Connect latency first, on an idle network.
  const times = JSON.parse(
    (
      await lab.exec(lab.client.ns, [
        process.execPath,
        '--import',
        'tsx',
        `${repoRoot}bench/connect-times.ts`,
        '--target',
        path.connect,
        '--count',
        String(CONNECTS),
      ])
    ).stdout,
  ) as number[];

  const [host, port] = path.iperf.split(':') as [string, string];
  const iperf = JSON.parse(
    (await lab.exec(lab.client.ns, ['iperf3', '-c', host, '-p', port, '-R', '-P', '4', '-t', String(IPERF_SECONDS), '-O', '1', '-J']))
      .stdout,
  ) as {
    end: { sum_received: { bits_per_second: number } };
  };

  const urls = Array.from({ length: DOWNLOADS }, (_, i) => `${path.http[i % path.http.length]}bytes/${OBJECT}`);
  const before = { link: await lab.linkStats(lb.ns), cpu: machineBusySeconds(), haproxy: cpuSeconds(haproxy.pid!) };
  const started = performance.now();
  const out = await lab.exec(lab.client.ns, [
    'curl',
    '-sS',
    '--parallel',
    '--parallel-max',
    String(PARALLEL),
    '-w',
    '%{size_download}\n',
    ...urls.flatMap((u) => ['-o', '/dev/null', u]),
  ]);
  const seconds = (performance.now() - started) / 1000;
  const after = { link: await lab.linkStats(lb.ns), cpu: machineBusySeconds(), haproxy: cpuSeconds(haproxy.pid!) };
  const bytes = out.stdout
    .trim()
    .split('\n')
    .reduce((a, n) => a + Number(n), 0);
  if (bytes !== DOWNLOADS * OBJECT) throw new Error(`${path.name}: downloaded ${bytes} bytes, expected ${DOWNLOADS * OBJECT}`);
  const gb = bytes / 1e9;
  return {
    path: path.name,
    capped,
    iperfGbps: iperf.end.sum_received.bits_per_second / 1e9,
    httpGbps: (bytes * 8) / seconds / 1e9,
    lbBytesPerByte: (after.link.rxBytes - before.link.rxBytes + after.link.txBytes - before.link.txBytes) / bytes,
    lbPacketsPerMB: (after.link.rxPackets - before.link.rxPackets + after.link.txPackets - before.link.txPackets) / (bytes / 1e6),
    cpuSecondsPerGB: (after.cpu - before.cpu) / gb,
    haproxySecondsPerGB: path.name.startsWith('HAProxy') ? (after.haproxy - before.haproxy) / gb : null,
    connectP50: quantile(times, 0.5),
    connectP99: quantile(times, 0.99),
  };
}

/** Each numeric figure's median over the rounds of one path. */
function medianResult(rs: Result[]): Result {
  const med = (f: (r: Result) => number) => quantile(rs.map(f), 0.5);
  return {
    ...rs[0]!,
    iperfGbps: med((r) => r.iperfGbps),
    httpGbps: med((r) => r.httpGbps),
    lbBytesPerByte: med((r) => r.lbBytesPerByte),
    lbPacketsPerMB: med((r) => r.lbPacketsPerMB),
    cpuSecondsPerGB: med((r) => r.cpuSecondsPerGB),
    haproxySecondsPerGB: rs[0]!.haproxySecondsPerGB === null ? null : med((r) => r.haproxySecondsPerGB!),
    connectP50: med((r) => r.connectP50),
    connectP99: med((r) => r.connectP99),
  };
}

function table(results: Result[]): string {
  const rows = results.map((r) =>
    [
      r.path,
      r.capped ? CAP : 'none',
      r.iperfGbps.toFixed(2),
      r.httpGbps.toFixed(2),
      `${(r.lbBytesPerByte * 100).toFixed(2)} %`,
      r.lbPacketsPerMB.toFixed(0),
      r.cpuSecondsPerGB.toFixed(2) + (r.haproxySecondsPerGB !== null ? ` (HAProxy ${r.haproxySecondsPerGB.toFixed(2)})` : ''),
      r.connectP50.toFixed(3),
      r.connectP99.toFixed(3),
    ].join(' | '),
  );
  return [
    '| Path | Balancer link cap | iperf3 -R (Gbit/s) | HTTP 10 MB downloads (Gbit/s) | Balancer link bytes per response byte | Balancer packets per response MB | Machine CPU s per GB | Connect p50 (ms) | Connect p99 (ms) |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

function goals(results: Result[]): string[] {
  const get = (path: string, capped: boolean) => results.find((r) => r.path === path && r.capped === capped)!;
  const lines: string[] = [];
  for (const capped of [false, true]) {
    const direct = get('direct', capped);
    for (const dsr of ['L2 DSR', 'L3 DSR (vxlan)']) {
      const r = get(dsr, capped);
      for (const metric of ['httpGbps', 'iperfGbps'] as const) {
        const ratio = r[metric] / direct[metric];
        lines.push(
          `${ratio >= 0.95 ? 'MET   ' : 'MISSED'} ${dsr}, ${capped ? 'capped' : 'uncapped'}, ${metric === 'httpGbps' ? 'HTTP' : 'iperf3'}: ${(ratio * 100).toFixed(1)} % of direct (goal >= 95 %)`,
        );
      }
      if (capped) {
        for (const classic of ['Tula NAT', 'HAProxy (TCP)']) {
          const ratio = r.httpGbps / get(classic, true).httpGbps;
          lines.push(`${ratio >= 5 ? 'MET   ' : 'MISSED'} ${dsr} vs ${classic}, capped, HTTP: ${ratio.toFixed(1)}x (goal >= 5x)`);
        }
      }
      lines.push(
        `${r.lbBytesPerByte <= 0.01 ? 'MET   ' : 'MISSED'} ${dsr}, ${capped ? 'capped' : 'uncapped'}: the balancer carried ${(r.lbBytesPerByte * 100).toFixed(2)} % of response bytes (goal <= 1 %)`,
      );
    }
  }
  return lines;
}

async function chart(results: Result[], file: string) {
  const paths = [...new Set(results.map((r) => r.path))];
  const max = Math.max(...results.map((r) => Math.max(r.httpGbps, r.iperfGbps)));
  const W = 920,
    H = 420,
    left = 70,
    bottom = 360,
    top = 50,
    groupW = (W - left - 20) / paths.length;
  const y = (v: number) => bottom - (v / max) * (bottom - top);
  const series = [
    { key: 'httpGbps', capped: false, label: 'HTTP, no cap', color: '#0c7564' },
    { key: 'httpGbps', capped: true, label: `HTTP, balancer link ${CAP}`, color: '#5fb3a5' },
    { key: 'iperfGbps', capped: false, label: 'iperf3 -R, no cap', color: '#d97706' },
    { key: 'iperfGbps', capped: true, label: `iperf3 -R, balancer link ${CAP}`, color: '#f5b867' },
  ] as const;
  const barW = (groupW - 20) / series.length;
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12"><rect width="${W}" height="${H}" fill="white"/>`;
  svg += `<text x="${left}" y="22" font-size="15" font-weight="bold">Response throughput by path (Gbit/s), medians of ${ROUNDS} rounds on this machine</text>`;
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    svg += `<line x1="${left}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e8f0"/><text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(1)}</text>`;
  }
  paths.forEach((p, i) => {
    const x0 = left + i * groupW + 10;
    series.forEach((s, j) => {
      const r = results.find((x) => x.path === p && x.capped === s.capped)!;
      const v = r[s.key];
      svg += `<rect x="${x0 + j * barW}" y="${y(v)}" width="${barW - 2}" height="${bottom - y(v)}" fill="${s.color}"/>`;
      svg += `<text x="${x0 + j * barW + barW / 2}" y="${y(v) - 3}" text-anchor="middle" font-size="10">${v.toFixed(1)}</text>`;
    });
    svg += `<text x="${x0 + (groupW - 20) / 2}" y="${bottom + 18}" text-anchor="middle" font-weight="bold">${p}</text>`;
  });
  series.forEach((s, j) => {
    svg += `<rect x="${left + j * 200}" y="${H - 28}" width="12" height="12" fill="${s.color}"/><text x="${left + j * 200 + 16}" y="${H - 18}">${s.label}</text>`;
  });
  svg += '</svg>';
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  const page = await browser.newPage({ viewport: { width: W, height: H } });
  await page.setContent(`<body style="margin:0">${svg}</body>`);
  await page.screenshot({ path: file });
  await browser.close();
}

if (process.env.BENCH_ONLY === 'ha') {
  for (const line of haSummary(await benchHa())) console.log(line);
  process.exit(0);
}

const lab = await createLab({ prefix: 'bdp' });
const dir = mkdtempSync(join(tmpdir(), 'tula-bench-dp-'));
try {
  const lb = lab.balancers[0]!;
  for (const b of lab.backends) await apply(lab, b, backendDoc(lab), dir);
  await apply(lab, lb, balancerDoc(lab), dir);
  const iperfServer = lab.spawn(lab.backends[0]!.ns, ['iperf3', '-s', '-p', '5201']);
  writeFileSync(join(dir, 'haproxy.cfg'), haproxyConfig(lab));
  const haproxy = lab.spawn(lb.ns, ['haproxy', '-db', '-f', join(dir, 'haproxy.cfg')]);
  await new Promise((r) => setTimeout(r, 1000));

  const machine = `${execFileSync('nproc').toString().trim()} CPUs (${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown'}), kernel ${execFileSync('uname', ['-r']).toString().trim()}`;
  console.log(`machine: ${machine}`);
  const results: Result[] = [];
  for (const capped of [false, true]) {
    if (capped)
      await lab.exec(lb.ns, ['tc', 'qdisc', 'replace', 'dev', 'e0', 'root', 'tbf', 'rate', CAP, 'burst', '512kb', 'latency', '50ms']);
    const rounds = new Map<string, Result[]>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const path of PATHS(lab)) {
        const r = await measure(lab, path, capped, haproxy);
        console.log(
          `round ${round}, ${r.path} (${capped ? `capped ${CAP}` : 'uncapped'}): HTTP ${r.httpGbps.toFixed(2)} Gbit/s, iperf3 ${r.iperfGbps.toFixed(2)} Gbit/s, balancer ${(r.lbBytesPerByte * 100).toFixed(2)} % of bytes`,
        );
        rounds.set(path.name, [...(rounds.get(path.name) ?? []), r]);
      }
    }
    for (const [, rs] of rounds) results.push(medianResult(rs));
    if (capped) await lab.exec(lb.ns, ['tc', 'qdisc', 'del', 'dev', 'e0', 'root']);
  }
  console.log(`\n${table(results)}\n`);
  for (const line of goals(results)) console.log(line);
  await chart(results, CHART);
  console.log(`\nchart: ${CHART}`);
  iperfServer.kill();
  haproxy.kill();
} finally {
  await lab.destroy();
}
// Several balancers (issue 16): scale-out under a link cap, failover with and without BFD.
for (const line of haSummary(await benchHa())) console.log(line);
