// A network-namespace lab: a client behind a router, and one or two balancers and
// three backends on one bridged segment. Each backend runs a server that answers
// with its own name. Used by the data-plane tests, the benchmarks and the local lab.
//
//   client (10.98.0.2) -- router (10.98.0.1 | 10.99.0.1) -- bridge 10.99.0.0/24
//                                                             |- lb1 10.99.0.2
//                                                             |- lb2 10.99.0.3 (optional)
//                                                             |- b1..b3 10.99.0.11-13
// L2 VIPs live on the bridge subnet (10.99.0.100, fd00:99::100); L3 VIPs are
// routed by the router to the balancer(s) (10.97.0.0/24, fd00:97::/64).
// With `narrowLink`, the client sits one hop further, behind a "wan" router, and
// the wan-router link has that MTU (10.96.0.1 wan | 10.96.0.2 router), so the
// path between client and servers is narrower than either end's own link.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { netlabScript } from './compiled.ts';

const exec = promisify(execFile);

export const LAB = {
  clientNet: { v4: '10.98.0', v6: 'fd00:98:' },
  serverNet: { v4: '10.99.0', v6: 'fd00:99:' },
  l2Vip: { v4: '10.99.0.100', v6: 'fd00:99::100' },
  l3Vip: { v4: '10.97.0.100', v6: 'fd00:97::100' },
} as const;

export interface LabHost {
  ns: string;
  name: string;
  v4: string;
  v6: string;
}

export interface LabOptions {
  /** Namespace name prefix; namespaces left from an earlier run with it are removed first. */
  prefix: string;
  balancers?: 1 | 2;
  backends?: number;
  /** Start the name-answering server on each backend. */
  servers?: boolean;
  /** Third octet of this lab's management links (10.254.N.0/24); distinct for labs that run at once. */
  managementNet?: number;
  /** MTU of a link between the client's first hop and the router (path MTU tests); the client's own link stays 1500. */
  narrowLink?: number;
}

export interface Lab {
  prefix: string;
  client: LabHost;
  router: LabHost;
  balancers: LabHost[];
  backends: LabHost[];
  exec(
    ns: string,
    argv: string[],
    options?: { input?: string; allowFailure?: boolean; env?: NodeJS.ProcessEnv },
  ): Promise<{ stdout: string; stderr: string; code: number }>;
  spawn(ns: string, argv: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  startServer(backend: LabHost): Promise<void>;
  stopServer(backend: LabHost): Promise<void>;
  linkStats(ns: string, ifname?: string): Promise<{ rxBytes: number; txBytes: number; rxPackets: number; txPackets: number }>;
  /** Routes the L3 VIP prefixes from the router to these balancers (ECMP when several). */
  routeL3Vips(via: LabHost[]): Promise<void>;
  /**
   * Links a lab host to the root namespace with a point-to-point link (agents
   * reaching the control panel). Returns the root side's address.
   */
  connectToHost(host: LabHost): Promise<string>;
  /** The host's own address on its management link, once connectToHost made it (reachable from this machine). */
  managementAddress(host: LabHost): string | undefined;
  destroy(): Promise<void>;
}

async function sh(argv: string[], options: { input?: string; allowFailure?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  try {
    const child = exec(argv[0]!, argv.slice(1), { maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env });
    if (options.input !== undefined) {
      child.child.stdin?.end(options.input);
    }
    const r = await child;
    return { stdout: r.stdout, stderr: r.stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    if (options.allowFailure) return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : 1 };
    throw new Error(`${argv.join(' ')} failed: ${e.stderr || (err as Error).message}`);
  }
}

export async function listNamespaces(): Promise<string[]> {
  const r = await sh(['ip', '-j', 'netns', 'list'], { allowFailure: true });
  if (!r.stdout.trim()) return [];
  return (JSON.parse(r.stdout) as { name: string }[]).map((n) => n.name);
}

export async function removeNamespaces(prefix: string): Promise<void> {
  for (const ns of await listNamespaces()) {
    if (!ns.startsWith(`${prefix}-`)) continue;
    // Processes left inside (servers, agents) would keep the namespace's devices alive.
    const pids = await sh(['ip', 'netns', 'pids', ns], { allowFailure: true });
    for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sh(['ip', 'netns', 'del', ns], { allowFailure: true });
  }
  // The kernel tears a deleted namespace down in the background: a management link's root side
  // (connectToHost) outlived `ip netns del` under load, and a lab started again at once found its
  // name taken ("File exists"). Deleting one end of a veth deletes both.
  const links = await sh(['ip', '-j', 'link', 'show'], { allowFailure: true });
  const managementLink = new RegExp(`^tm${prefix}\\d+$`);
  for (const { ifname } of links.stdout.trim() ? (JSON.parse(links.stdout) as { ifname: string }[]) : []) {
    if (managementLink.test(ifname)) await sh(['ip', 'link', 'del', ifname], { allowFailure: true });
  }
}

export async function createLab(options: LabOptions): Promise<Lab> {
  const p = options.prefix;
  if (!/^[a-z][a-z0-9]{0,5}$/.test(p)) throw new Error('lab prefix: 1-6 lower-case letters and digits');
  await removeNamespaces(p);
  const host = (name: string, v4: string, v6: string): LabHost => ({ ns: `${p}-${name}`, name, v4, v6 });
  const client = host('c', `${LAB.clientNet.v4}.2`, `${LAB.clientNet.v6}:2`);
  const router = host('rt', `${LAB.serverNet.v4}.1`, `${LAB.serverNet.v6}:1`);
  const balancers = Array.from({ length: options.balancers ?? 1 }, (_, i) =>
    host(`lb${i + 1}`, `${LAB.serverNet.v4}.${2 + i}`, `${LAB.serverNet.v6}:${2 + i}`),
  );
  const backends = Array.from({ length: options.backends ?? 3 }, (_, i) =>
    host(`b${i + 1}`, `${LAB.serverNet.v4}.${11 + i}`, `${LAB.serverNet.v6}:${(11 + i).toString(16)}`),
  );
  const sw = `${p}-sw`;
  const wan = options.narrowLink === undefined ? undefined : host('wan', '10.96.0.1', 'fd00:96::1');
  const servers = new Map<string, ChildProcess>();
  /** Each connected host's management link: this machine's side and the host's. */
  const links = new Map<string, { rootSide: string; nsSide: string }>();
  const mgmt = options.managementNet ?? 0;
  const ipn = (ns: string, ...args: string[]) => sh(['ip', '-n', ns, ...args]);

  const lab: Lab = {
    prefix: p,
    client,
    router,
    balancers,
    backends,
    exec: (ns, argv, o) => sh(['ip', 'netns', 'exec', ns, ...argv], o),
    spawn: (ns, argv, env) => spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env }),
    async startServer(b) {
      const child = lab.spawn(b.ns, [...netlabScript('backend-server'), '--name', b.name, '--lab', p]);
      servers.set(b.ns, child);
      await new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`server in ${b.ns} did not start: ${out}`)), 30_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`server in ${b.ns} exited ${code}: ${out}`));
        });
      });
    },
    async stopServer(b) {
      const child = servers.get(b.ns);
      servers.delete(b.ns);
      if (!child || child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    },
    async linkStats(ns, ifname = 'e0') {
      const r = await sh(['ip', '-n', ns, '-j', '-s', 'link', 'show', ifname]);
      const s = (
        JSON.parse(r.stdout) as { stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }[]
      )[0]!.stats64;
      return { rxBytes: s.rx.bytes, txBytes: s.tx.bytes, rxPackets: s.rx.packets, txPackets: s.tx.packets };
    },
    async routeL3Vips(via) {
      const hops4 = via.flatMap((h) => ['nexthop', 'via', h.v4]);
      const hops6 = via.flatMap((h) => ['nexthop', 'via', h.v6]);
      await ipn(router.ns, 'route', 'replace', '10.97.0.0/24', ...(via.length === 1 ? ['via', via[0]!.v4] : hops4));
      await ipn(router.ns, '-6', 'route', 'replace', 'fd00:97::/64', ...(via.length === 1 ? ['via', via[0]!.v6] : hops6));
    },
    async connectToHost(h) {
      const known = links.get(h.ns);
      if (known) return known.rootSide;
      const i = links.size;
      if (i > 62) throw new Error('too many management links in one lab');
      const rootSide = `10.254.${mgmt}.${4 * i + 1}`;
      const nsSide = `10.254.${mgmt}.${4 * i + 2}`;
      const name = `tm${p}${i}`;
      await sh(['ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'm0', 'netns', h.ns]);
      await sh(['ip', 'addr', 'add', `${rootSide}/30`, 'dev', name]);
      await sh(['ip', 'link', 'set', name, 'up']);
      await ipn(h.ns, 'addr', 'add', `${nsSide}/30`, 'dev', 'm0');
      await ipn(h.ns, 'link', 'set', 'm0', 'up');
      links.set(h.ns, { rootSide, nsSide });
      return rootSide;
    },
    managementAddress: (h) => links.get(h.ns)?.nsSide,
    async destroy() {
      for (const b of backends) await lab.stopServer(b);
      await removeNamespaces(p);
    },
  };

  try {
    for (const h of [sw, ...(wan ? [wan.ns] : []), client.ns, router.ns, ...balancers.map((b) => b.ns), ...backends.map((b) => b.ns)]) {
      await sh(['ip', 'netns', 'add', h]);
      await ipn(h, 'link', 'set', 'lo', 'up');
    }
    await ipn(sw, 'link', 'add', 'br0', 'type', 'bridge');
    await ipn(sw, 'link', 'set', 'br0', 'up');
    // Client <-> router: a direct link, or two hops with a narrow link between.
    const firstHop = wan ?? router;
    await sh(['ip', 'link', 'add', 'e0', 'netns', client.ns, 'type', 'veth', 'peer', 'name', 'e1', 'netns', firstHop.ns]);
    const serverHosts = [router, ...balancers, ...backends];
    for (const h of serverHosts) {
      await sh(['ip', 'link', 'add', 'e0', 'netns', h.ns, 'type', 'veth', 'peer', 'name', h.name, 'netns', sw]);
      await ipn(sw, 'link', 'set', h.name, 'master', 'br0', 'up');
    }
    const addr = async (h: LabHost, dev: string, v4: string, v6: string) => {
      await ipn(h.ns, 'addr', 'add', `${v4}/24`, 'dev', dev);
      await ipn(h.ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      await ipn(h.ns, 'link', 'set', dev, 'up');
    };
    await addr(client, 'e0', client.v4, client.v6);
    await addr(firstHop, 'e1', `${LAB.clientNet.v4}.1`, `${LAB.clientNet.v6}:1`);
    if (wan) {
      const mtu = String(options.narrowLink);
      await sh([
        'ip',
        'link',
        'add',
        'n0',
        'netns',
        wan.ns,
        'mtu',
        mtu,
        'type',
        'veth',
        'peer',
        'name',
        'e1',
        'netns',
        router.ns,
        'mtu',
        mtu,
      ]);
      await ipn(wan.ns, 'addr', 'add', '10.96.0.1/24', 'dev', 'n0');
      await ipn(wan.ns, 'addr', 'add', 'fd00:96::1/64', 'dev', 'n0', 'nodad');
      await ipn(wan.ns, 'link', 'set', 'n0', 'up');
      await addr(router, 'e1', '10.96.0.2', 'fd00:96::2');
      await ipn(wan.ns, 'route', 'add', 'default', 'via', '10.96.0.2');
      await ipn(wan.ns, '-6', 'route', 'add', 'default', 'via', 'fd00:96::2');
      await ipn(router.ns, 'route', 'add', `${LAB.clientNet.v4}.0/24`, 'via', '10.96.0.1');
      await ipn(router.ns, '-6', 'route', 'add', `${LAB.clientNet.v6}:/64`, 'via', 'fd00:96::1');
      await lab.exec(wan.ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    }
    for (const h of serverHosts) await addr(h, 'e0', h.v4, h.v6);
    await ipn(client.ns, 'route', 'add', 'default', 'via', `${LAB.clientNet.v4}.1`);
    await ipn(client.ns, '-6', 'route', 'add', 'default', 'via', `${LAB.clientNet.v6}:1`);
    for (const h of [...balancers, ...backends]) {
      await ipn(h.ns, 'route', 'add', 'default', 'via', router.v4);
      await ipn(h.ns, '-6', 'route', 'add', 'default', 'via', router.v6);
    }
    await sh(['ip', 'netns', 'exec', router.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await lab.routeL3Vips([balancers[0]!]);
    if (options.servers ?? true) await Promise.all(backends.map((b) => lab.startServer(b)));
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

/**
 * An `nft list` text without the flow tables' entries: traffic adds them and
 * they expire within seconds (SYN-only and closing flows), so tests that compare
 * rules before and after something leave them out.
 */
export function withoutFlowEntries(listing: string): string {
  return listing.replace(/(map flows[^{]*\{[^}]*?)elements = \{[^}]*\}/g, '$1');
}
