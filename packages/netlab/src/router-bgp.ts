// The lab router as a BGP speaker: bird2 in the router namespace takes the
// balancers' VIP routes and installs them with one nexthop per balancer that
// announces (ECMP, `merge paths on`), hashing flows on their ports
// (fib_multipath_hash_policy=1). The static routes createLab sets up for the
// L3 VIP prefixes are removed, so only announced VIPs are reachable.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Lab } from './lab.ts';

const exec = promisify(execFile);

export interface RouterBgpOptions {
  asn: number;
  peers: { address: string; asn: number }[];
  holdTimeS?: number;
  /** BFD with every peer, with these timers. */
  bfd?: { intervalMs: number; multiplier: number };
}

export interface RouterBgp {
  config: string;
  /** The nexthops of the router's route to `prefix` (empty when no balancer announces it). */
  nexthops(prefix: string): Promise<string[]>;
  /**
   * The nexthop the router forwards one TCP flow from the client to, as its own route lookup
   * answers for that flow's addresses and ports (ECMP hashes each flow onto one nexthop).
   */
  nexthopOfFlow(flow: { from: string; to: string; sport: number; dport: number }): Promise<string | undefined>;
  birdc(...args: string[]): Promise<string>;
}

export function routerBirdConfig(lab: Lab, o: RouterBgpOptions): string {
  return [
    `router id ${lab.router.v4};`,
    'protocol device {',
    '}',
    'protocol kernel {',
    '  ipv4 { import none; export all; };',
    '  merge paths on;',
    '}',
    'protocol kernel {',
    '  ipv6 { import none; export all; };',
    '  merge paths on;',
    '}',
    ...(o.bfd
      ? [
          'protocol bfd {',
          '  interface "*" {',
          `    min rx interval ${o.bfd.intervalMs} ms;`,
          `    min tx interval ${o.bfd.intervalMs} ms;`,
          `    multiplier ${o.bfd.multiplier};`,
          '  };',
          '}',
        ]
      : []),
    ...o.peers.flatMap((p, i) => [
      `protocol bgp balancer${i + 1} {`,
      `  local as ${o.asn};`,
      `  neighbor ${p.address} as ${p.asn};`,
      `  hold time ${o.holdTimeS ?? 9};`,
      '  connect retry time 2;',
      '  error wait time 1, 5;',
      ...(o.bfd ? ['  bfd on;'] : []),
      `  ipv${p.address.includes(':') ? 6 : 4} { import all; export none; };`,
      '}',
    ]),
    '',
  ].join('\n');
}

export async function startRouterBgp(lab: Lab, o: RouterBgpOptions): Promise<RouterBgp> {
  const dir = mkdtempSync(join(tmpdir(), `tula-${lab.router.ns}-bird-`));
  const conf = join(dir, 'bird.conf');
  const ctl = join(dir, 'bird.ctl');
  const config = routerBirdConfig(lab, o);
  writeFileSync(conf, config);
  await lab.exec(lab.router.ns, ['ip', 'route', 'del', '10.97.0.0/24'], { allowFailure: true });
  await lab.exec(lab.router.ns, ['ip', '-6', 'route', 'del', 'fd00:97::/64'], { allowFailure: true });
  await lab.exec(lab.router.ns, ['sysctl', '-qw', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv6.fib_multipath_hash_policy=1']);
  // bird daemonises; destroying the lab kills it with everything else in the namespace.
  await lab.exec(lab.router.ns, ['bird', '-c', conf, '-s', ctl, '-P', join(dir, 'bird.pid')]);
  const birdc = async (...args: string[]) => (await exec('ip', ['netns', 'exec', lab.router.ns, 'birdc', '-s', ctl, ...args])).stdout;
  return {
    config,
    birdc,
    async nexthops(prefix) {
      const r = await lab.exec(lab.router.ns, ['ip', '-j', ...(prefix.includes(':') ? ['-6'] : []), 'route', 'show', prefix]);
      const routes = JSON.parse(r.stdout || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
      return routes.flatMap((x) => (x.nexthops ? x.nexthops.map((n) => n.gateway) : x.gateway ? [x.gateway] : [])).sort();
    },
    async nexthopOfFlow(flow) {
      // As a packet from the client arrives: on the router's link to the client (e1, see createLab).
      const r = await lab.exec(lab.router.ns, [
        'ip',
        '-j',
        ...(flow.to.includes(':') ? ['-6'] : []),
        'route',
        'get',
        flow.to,
        'from',
        flow.from,
        'iif',
        'e1',
        'ipproto',
        'tcp',
        'sport',
        String(flow.sport),
        'dport',
        String(flow.dport),
      ]);
      return (JSON.parse(r.stdout || '[]') as { gateway?: string }[])[0]?.gateway;
    },
  };
}
