// Converges what surrounds the nft tables: sysctls, tunnel devices, VIP addresses,
// policy routes and rules. Split in two phases around the nft transaction so
// traffic never meets a half state: `prepare` creates what the new rules will use,
// `cleanup` removes what the old rules used.
import { canonicalIp, ipFamily, type TunnelType } from '@tula/protocol';
import { emptyHostPlan, hex, markRange, TUNNEL_DEVICES, VXLAN, type HostPlan } from '@tula/nft';
import { z } from 'zod';
import { run } from '../exec.ts';
import { addresses, ip, links, rules, tulaRouteTables, TULA_RT_PROTO, type IfAddress, type Rule } from '../kernel/ip.ts';
import { ipv6ConfNames, readSysctl, writeSysctl } from '../kernel/sysctl.ts';

/** What Tula changed on the host that is not recognisable by name, kept for `reset`. */
export const HostRecord = z.object({
  /** sysctl key -> the value before Tula first changed it. */
  sysctls: z.record(z.string(), z.string()).default({}),
  /** sysctl key -> the value Tula set (restored only if still so). */
  sysctlsSet: z.record(z.string(), z.string()).default({}),
  /** Addresses Tula added ("dev address/prefix"). */
  addresses: z.array(z.object({ dev: z.string(), address: z.string(), prefix: z.number() })).default([]),
  /** Whether the local routing rule was moved after Tula's (a local L3 VIP). */
  localRuleMoved: z.boolean().default(false),
});
export type HostRecord = z.infer<typeof HostRecord>;

export const emptyHostRecord = (): HostRecord => HostRecord.parse({});

/** Where Tula's rules sit; the local table's rule moves here +50 when it must come after them. */
const RULE_PREF_LOCAL_TRAFFIC = 98;
const RULE_PREF_TUNNEL = 100;
const RULE_PREF_LOCAL_MOVED = 150;
// One hex form for marks everywhere (ip accepts the zero-padded one).
/** Link-scoped address on decapsulating tunnel devices (see prepareHost). */
const TUNNEL_DEVICE_ADDRESS = '169.254.84.1';

interface Want {
  sysctls: Map<string, (current: string) => string | undefined>;
  addresses: { dev: string; address: string; prefix: number }[];
  devices: Map<string, TunnelType>;
}

/**
 * `ipv6Interfaces`: the host's IPv6 configuration names (interfaces and
 * `default`), whose router advertisements must stay accepted once it forwards.
 */
function wanted(plan: HostPlan, ipv6Interfaces: string[] = []): Want {
  const sysctls = new Map<string, (current: string) => string | undefined>();
  if (plan.ipv4Forwarding) sysctls.set('net/ipv4/ip_forward', (c) => (c === '1' ? undefined : '1'));
  if (plan.ipv6Forwarding) {
    // A forwarding interface ignores router advertisements at accept_ra=1 (and
    // loses its SLAAC default route); 2 accepts them while forwarding. Set
    // before forwarding is turned on, so no advertisement is missed between.
    for (const i of ipv6Interfaces) sysctls.set(`net/ipv6/conf/${i}/accept_ra`, (c) => (c === '1' ? '2' : undefined));
    sysctls.set('net/ipv6/conf/all/forwarding', (c) => (c === '1' ? undefined : '1'));
  }
  if (plan.arpHardening) {
    // The VIP on lo must not be answered for or announced: only raise, never lower.
    sysctls.set('net/ipv4/conf/all/arp_ignore', (c) => (Number(c) >= 1 ? undefined : '1'));
    sysctls.set('net/ipv4/conf/all/arp_announce', (c) => (Number(c) >= 2 ? undefined : '2'));
  }
  for (const a of plan.announce) {
    // The kernel then sends an unsolicited neighbour advertisement when it takes an IPv6 VIP on.
    if (ipFamily(a.vip) === 6) sysctls.set(`net/ipv6/conf/${a.interface}/ndisc_notify`, (c) => (c === '1' ? undefined : '1'));
  }
  const addrs = [
    ...plan.loopbackVips.map((v) => ({ dev: 'lo', address: v, prefix: ipFamily(v) === 4 ? 32 : 128 })),
    ...plan.announce.map((a) => ({ dev: a.interface, address: a.vip, prefix: ipFamily(a.vip) === 4 ? 32 : 128 })),
  ];
  const devices = new Map<string, TunnelType>();
  for (const t of [...plan.balancerTunnels, ...plan.backendTunnels]) devices.set(TUNNEL_DEVICES[t], t);
  return { sysctls, addresses: addrs, devices };
}

async function createTunnelDevice(name: string, type: TunnelType): Promise<void> {
  // External (collect-metadata) devices: one per type carries every backend,
  // the destination coming from each route's encap.
  if (type === 'vxlan') {
    await ip('link', 'add', name, 'address', VXLAN.receiverMac, 'type', 'vxlan', 'external', 'dstport', String(VXLAN.port));
  } else {
    await ip('link', 'add', name, 'type', type, 'external');
  }
}

/**
 * Creates everything the new rules use. Idempotent: does nothing when the host already matches.
 * `hostAddresses`: the host's addresses as read in this convergence (read once: there may be 10,000).
 */
export async function prepareHost(
  plan: HostPlan,
  record: HostRecord,
  hostAddresses: () => Promise<IfAddress[]> = addresses,
): Promise<void> {
  const want = wanted(plan, await ipv6ConfNames());
  for (const [key, decide] of want.sysctls) {
    const current = await readSysctl(key);
    const value = decide(current);
    if (value === undefined) continue;
    if (record.sysctls[key] === undefined) record.sysctls[key] = current;
    await writeSysctl(key, value);
    record.sysctlsSet[key] = value;
  }

  const present = new Set((await links()).map((l) => l.ifname));
  for (const [name, type] of want.devices) {
    if (!present.has(name)) await createTunnelDevice(name, type);
    // No ARP over the tunnel: the next hop is the route's encap destination, and
    // the inner MACs are set by the vxlan_out chain.
    await ip('link', 'set', name, ...(type === 'vxlan' ? ['arp', 'off'] : []), 'up');
  }
  const addrsNow = await hostAddresses();
  for (const t of plan.backendTunnels) {
    // Decapsulated packets arrive on the tunnel device while their source routes
    // elsewhere: loose reverse-path checking there. The effective value is the
    // larger of all/ and the device's, so other interfaces are untouched; and the
    // kernel fails the check on any device without an IPv4 address, hence one.
    const dev = TUNNEL_DEVICES[t];
    await writeSysctl(`net/ipv4/conf/${dev}/rp_filter`, '2');
    if (!addrsNow.some((a) => a.ifname === dev && a.address === TUNNEL_DEVICE_ADDRESS)) {
      await ip('addr', 'add', `${TUNNEL_DEVICE_ADDRESS}/32`, 'dev', dev, 'scope', 'link');
    }
  }

  // The addresses read above: what the loop above added is on tunnel devices, never on lo.
  const have = addressKeys(addrsNow);
  const recorded = new Set(record.addresses.map((r) => addressKey(r.dev, r.address)));
  for (const a of want.addresses.filter((w) => w.dev === 'lo')) {
    if (!have.has(addressKey(a.dev, a.address))) await addAddress(a, record, recorded);
  }

  for (const route of plan.tunnelRoutes) {
    const dev = TUNNEL_DEVICES[route.tunnel];
    const encap = ['encap', 'ip', ...(route.tunnel === 'vxlan' ? ['id', String(VXLAN.vni)] : []), 'dst', route.underlay];
    for (const fam of route.families) {
      await ip(
        `-${fam}`,
        'route',
        'replace',
        'default',
        ...encap,
        'dev',
        dev,
        'table',
        String(route.table),
        'proto',
        String(TULA_RT_PROTO),
      );
    }
  }
  for (const fam of [4, 6] as const) {
    const existing = await rules(fam);
    for (const want of wantedRules(plan, fam)) {
      if (existing.some((r) => sameRule(r, want))) continue;
      await ip(
        `-${fam}`,
        'rule',
        'add',
        'pref',
        String(want.pref),
        'fwmark',
        `${hex(want.mark)}/${hex(want.mask)}`,
        ...(want.iif ? ['iif', want.iif] : []),
        'lookup',
        want.table,
        'protocol',
        String(TULA_RT_PROTO),
      );
    }
  }

  // An L3 VIP that is also a local address would be delivered locally before our
  // rules are consulted; then the local table's rule moves after them.
  // (Only read again when there are L3 VIPs: a balancer may hold 10,000 addresses.)
  if (plan.l3Vips.length === 0) return;
  const local = new Set((await addresses()).map((a) => canonicalIp(a.address)));
  const needMove = plan.l3Vips.some((v) => local.has(v));
  if (needMove) await moveLocalRule(true, record);
}

/** `dev|address` (canonical): addresses are compared through these sets, as a balancer may hold 10,000 VIPs. */
const addressKey = (dev: string, address: string) => `${dev}|${address}`;
const addressKeys = (list: { ifname: string; address: string }[]) => new Set(list.map((h) => addressKey(h.ifname, canonicalIp(h.address))));

async function addAddress(a: { dev: string; address: string; prefix: number }, record: HostRecord, recorded: Set<string>): Promise<void> {
  // On lo, IPv6 does no duplicate detection. On an interface it does, and the
  // unsolicited neighbour advertisement (ndisc_notify) goes out when it ends.
  const extra = ipFamily(a.address) === 6 && a.dev === 'lo' ? ['nodad'] : [];
  await ip('addr', 'add', `${a.address}/${a.prefix}`, 'dev', a.dev, ...extra);
  const key = addressKey(a.dev, a.address);
  if (!recorded.has(key)) {
    record.addresses.push(a);
    recorded.add(key);
  }
}

/**
 * Puts L2 VIPs on their interfaces, so the balancer answers ARP and NDP for them.
 * Runs after the nft transaction: a VIP is announced only once traffic to it is
 * forwarded. Returns the VIPs that were newly taken on.
 */
export async function takeVips(
  plan: HostPlan,
  record: HostRecord,
  signal: AbortSignal,
  hostAddresses: () => Promise<IfAddress[]> = addresses,
): Promise<{ vip: string; interface: string }[]> {
  // Addresses read before prepareHost suit: it adds only on lo and tunnel devices, never an interface's VIP.
  const have = addressKeys(await hostAddresses());
  const recorded = new Set(record.addresses.map((r) => addressKey(r.dev, r.address)));
  const taken: { vip: string; interface: string }[] = [];
  for (const a of wanted(plan).addresses.filter((w) => w.dev !== 'lo')) {
    // Stopping: the rest are taken on by the next convergence.
    if (signal.aborted) break;
    if (have.has(addressKey(a.dev, a.address))) continue;
    await addAddress(a, record, recorded);
    taken.push({ vip: a.address, interface: a.dev });
  }
  return taken;
}

async function moveLocalRule(after: boolean, record: HostRecord): Promise<void> {
  for (const fam of [4, 6] as const) {
    const existing = await rules(fam);
    const at = (pref: number) => existing.some((r) => r.priority === pref && r.table === 'local');
    const [from, to] = after ? [0, RULE_PREF_LOCAL_MOVED] : [RULE_PREF_LOCAL_MOVED, 0];
    // Add the new position before removing the old: local delivery never lapses.
    if (!at(to)) await ip(`-${fam}`, 'rule', 'add', 'pref', String(to), 'lookup', 'local');
    if (at(from)) await ip(`-${fam}`, 'rule', 'del', 'pref', String(from), 'lookup', 'local');
  }
  record.localRuleMoved = after;
}

interface WantedRule {
  pref: number;
  mark: number;
  mask: number;
  table: string;
  iif?: string;
}

/**
 * The policy-routing rules of L3 services: each matches only Tula's bits of the
 * mark (other bits are other software's), so a bit set by someone else in
 * prerouting does not stop the packet from taking its tunnel.
 */
function wantedRules(plan: HostPlan, fam: 4 | 6): WantedRule[] {
  const routes = plan.tunnelRoutes.filter((r) => r.families.includes(fam));
  if (routes.length === 0) return [];
  const { mask, tunnel } = plan.markRange;
  return [
    // The encapsulated packet keeps the mark; sent from here (iif lo), it takes the main table.
    { pref: RULE_PREF_LOCAL_TRAFFIC, mark: tunnel, mask: tunnel, table: 'main', iif: 'lo' },
    ...routes.map((r) => ({ pref: RULE_PREF_TUNNEL, mark: r.mark, mask, table: String(r.table) })),
  ];
}

/** Whether a rule `ip -j rule` listed is the wanted one (ip prints marks in its own hex form, and no mask when it is all ones). */
function sameRule(r: Rule, w: WantedRule): boolean {
  return (
    r.priority === w.pref &&
    Number(r.fwmark) === w.mark &&
    Number(r.fwmask ?? 0xffffffff) === w.mask &&
    r.table === w.table &&
    (w.iif === undefined || r.iif === w.iif)
  );
}

/** Removes what the new plan no longer uses (after the nft transaction stopped using it). */
export async function cleanupHost(plan: HostPlan, record: HostRecord): Promise<void> {
  const want = wanted(plan, await ipv6ConfNames());
  for (const fam of [4, 6] as const) {
    const wantedHere = wantedRules(plan, fam);
    for (const r of await rules(fam)) {
      if (r.protocol !== String(TULA_RT_PROTO)) continue;
      // Exactly the wanted rules stay: a rule of an older layout (another mark or mask) goes.
      if (!wantedHere.some((w) => sameRule(r, w)))
        await ip(
          `-${fam}`,
          'rule',
          'del',
          'pref',
          String(r.priority),
          ...(r.fwmark ? ['fwmark', r.fwmask ? `${r.fwmark}/${r.fwmask}` : r.fwmark] : []),
          'lookup',
          r.table ?? 'main',
        );
    }
    for (const table of await tulaRouteTables(fam)) {
      const route = plan.tunnelRoutes.find((r) => r.table === table);
      if (!route || !route.families.includes(fam))
        await ip(`-${fam}`, 'route', 'flush', 'table', String(table), 'proto', String(TULA_RT_PROTO));
    }
  }
  if (record.localRuleMoved) {
    const local = new Set((await addresses()).map((a) => canonicalIp(a.address)));
    if (!plan.l3Vips.some((v) => local.has(v))) await moveLocalRule(false, record);
  }

  for (const l of await links()) {
    if (l.ifname.startsWith('tula-') && Object.values(TUNNEL_DEVICES).includes(l.ifname) && !want.devices.has(l.ifname)) {
      await ip('link', 'del', l.ifname);
    }
  }

  const wantedAddresses = new Set(want.addresses.map((w) => addressKey(w.dev, w.address)));
  const keep = record.addresses.filter((a) => wantedAddresses.has(addressKey(a.dev, a.address)));
  if (keep.length !== record.addresses.length) {
    for (const a of record.addresses) {
      if (wantedAddresses.has(addressKey(a.dev, a.address))) continue;
      await run(['ip', 'addr', 'del', `${a.address}/${a.prefix}`, 'dev', a.dev], { allowFailure: true });
    }
    record.addresses = keep;
  }

  for (const key of Object.keys(record.sysctlsSet)) {
    if (want.sysctls.has(key)) continue;
    await restoreSysctl(key, record);
  }
}

async function restoreSysctl(key: string, record: HostRecord): Promise<void> {
  const original = record.sysctls[key];
  const set = record.sysctlsSet[key];
  // Put back what was there, unless someone changed it since.
  if (original !== undefined && (await readSysctl(key).catch(() => undefined)) === set) await writeSysctl(key, original);
  delete record.sysctls[key];
  delete record.sysctlsSet[key];
}

/**
 * Sends gratuitous ARP for an IPv4 VIP the balancer just took on. (For IPv6 the
 * kernel sends the unsolicited neighbour advertisement itself: ndisc_notify.)
 */
async function announce(vip: string, ifname: string, signal: AbortSignal): Promise<string | undefined> {
  if (ipFamily(vip) === 6 || signal.aborted) return undefined;
  const command = ['arping', '-U', '-c', '2', '-w', '2', '-I', ifname, '-s', vip, vip];
  try {
    const r = await run(command, { allowFailure: true, timeoutMs: 5000, signal });
    return r.code === 0 ? undefined : `arping failed: ${r.stderr.trim() || r.stdout.trim()}`;
  } catch {
    if (signal.aborted) return undefined;
    return 'arping is not installed (Debian package iputils-arping); neighbours learn the VIP when they next ask for it';
  }
}

/** arping processes at once: each takes about a second (two ARPs a second apart). */
export const ANNOUNCE_CONCURRENCY = 32;

/**
 * Announces VIPs, ANNOUNCE_CONCURRENCY at a time, so thousands take minutes
 * rather than an hour. Aborting kills the arping processes and ends at once
 * (neighbours then learn the rest when they next ask). Returns warnings.
 */
export async function announceAll(vips: { vip: string; interface: string }[], signal: AbortSignal): Promise<string[]> {
  const warnings: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < vips.length && !signal.aborted) {
      const a = vips[next++]!;
      const problem = await announce(a.vip, a.interface, signal);
      if (problem) warnings.push(`announcing ${a.vip} on ${a.interface}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(ANNOUNCE_CONCURRENCY, vips.length) }, worker));
  return warnings;
}

/** Removes everything Tula installed outside nft and restores sysctls. */
export async function resetHost(record: HostRecord): Promise<void> {
  await cleanupHost(emptyHostPlan(markRange()), record);
  if (record.localRuleMoved) await moveLocalRule(false, record);
  for (const key of Object.keys(record.sysctls)) await restoreSysctl(key, record);
}
