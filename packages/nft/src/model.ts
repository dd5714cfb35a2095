// Desired state + host facts -> the kernel objects Tula wants: nftables tables,
// and the routes, devices, addresses and sysctls around them. Pure: the agent
// gathers the facts and carries out the plan.
//
// Scale shapes the layout. nft re-reads every chain and set of the ruleset on
// each transaction, so the number of chains and sets must not grow with the
// number of services. Services and backends are therefore data, not code: a
// packet's service and backend travel in the packet mark, and per-service state
// lives in elements of a fixed set of maps. Chains exist per *class* of service
// (mode, interface, protocol, family, table size, flow timeout), a handful.
//
// The mark layout is in marks.ts; ids in ids.ts; the table data in tables.ts;
// flow pinning in flows.ts; ICMP steering in icmp.ts; L3 VIP guards in
// l3-vips.ts; tunnels in tunnels.ts. This module puts them together. Rules are
// data, in the vocabulary of syntax.ts, which alone writes their text.
import {
  backendKey,
  canonicalIp,
  ipFamily,
  neighbourKey,
  servicePorts,
  type BalancerService,
  type DesiredState,
  type TunnelType,
} from '@tula/protocol';
import { checkInterface, checkMac, ModelError } from './checks.ts';
import { classChains, flowSettings, flowTableSet, markFrom, tcpFlags } from './flows.ts';
import { byString } from './hash.ts';
import { addIcmpElements, icmpClassChain, icmpInterface } from './icmp.ts';
import { allocateIds, MIN_ID_QUARANTINE_S, type RetiredIds } from './ids.ts';
import { l3VipGuard, notrackChains } from './l3-vips.ts';
import { serviceLookupTable } from './lookup-change.ts';
import { maglevTableSize } from './maglev.ts';
import {
  MARK_NEW_FLOW,
  markRange,
  markValue,
  MAX_BACKEND_ID,
  MAX_SERVICE_ID,
  RESERVED_SERVICE_ID,
  TUNNEL_TABLE_BASE,
  type MarkRange,
} from './marks.ts';
import {
  addElement,
  combinedDigests,
  fragmentDigest,
  fragmentOf,
  fragmentsDigest,
  newTable,
  newTableId,
  xorInto,
  type Fragment,
  type NftChain,
  type NftSet,
  type NftTable,
} from './tables.ts';
import {
  assign,
  concat,
  CT_MARK,
  gotoElement,
  hex,
  hexValue,
  int,
  interval,
  ipAddress,
  L4PROTO,
  MARK,
  masked,
  match,
  name,
  payload,
  setRef,
  type Expr,
  type Statement,
} from './syntax.ts';
import { TUNNEL_DEVICES, tunnelMss, tunnelPeers, VXLAN } from './tunnels.ts';

export const INGRESS_PRIORITY = -300;

/** What the agent found on the host; everything the model may not look up itself. */
export interface HostFacts {
  /** Interfaces by name, with their MAC addresses. */
  interfaces: Record<string, { mac: string }>;
  /** Service name -> interface its VIP traffic arrives on (from `interface`, or resolved by routing). */
  serviceInterfaces: Record<string, string>;
  /** `${interface}|${canonical address}` -> MAC, from the neighbour table. */
  neighbours: Record<string, string>;
  /** `${service}|${canonical address}` of backends whose health checks fail. */
  unhealthy: string[];
  /** Ids from the previous model: an id never changes while its backend or service exists. */
  previousIds?: Record<string, number>;
  previousServiceIds?: Record<string, number>;
  previousStackIds?: Record<string, number>;
  /** Backend ids of removed backends, not given to another backend before `until` (see MIN_ID_QUARANTINE_S). */
  retiredIds?: RetiredIds;
  /** Now, in seconds since the epoch: when ids retire. Absent: ids retire at 0 (tests, render). */
  now?: number;
}

export type BackendCondition = 'usable' | 'down' | 'draining' | 'disabled' | 'unresolved';

export interface BackendPlan {
  service: string;
  address: string;
  /** The backend's packet mark within its service (service id << 16 | backend id). */
  mark: number;
  condition: BackendCondition;
  /** Maglev slots this backend serves now. */
  slots: number;
  /** Flow table holding its pinned flows. */
  flowMap: string;
}

export interface ServicePlan {
  name: string;
  mark: number;
  mode: 'l2' | 'l3' | 'nat';
  interface: string;
  tableSize: number;
}

export interface TunnelRoute {
  /** Stack id of the backend host (see MarkRange). */
  id: number;
  /** The mark value (within the mark range) that sends a packet into this route. */
  mark: number;
  /** Policy-routing table holding the route. */
  table: number;
  underlay: string;
  tunnel: TunnelType;
  /** Address families of the VIPs routed through it. */
  families: (4 | 6)[];
}

export interface HostPlan {
  /** The bits of the packet mark the routing rules match (Tula's range). */
  markRange: MarkRange;
  ipv4Forwarding: boolean;
  ipv6Forwarding: boolean;
  /** L2 VIPs the balancer answers ARP/NDP for on their interface. */
  announce: { vip: string; interface: string }[];
  /** L3: tunnel devices the balancer sends through, and a route per backend host. */
  balancerTunnels: TunnelType[];
  tunnelRoutes: TunnelRoute[];
  /** L3 VIPs carried here (a local copy of one needs the local routing rule moved after ours). */
  l3Vips: string[];
  /** Backend host: VIPs to put on lo, decapsulation devices, ARP hardening. */
  loopbackVips: string[];
  backendTunnels: TunnelType[];
  arpHardening: boolean;
}

/** A host plan that asks for nothing: what a build starts from, and what resetting a host converges to. */
export function emptyHostPlan(markRange: MarkRange): HostPlan {
  return {
    markRange,
    ipv4Forwarding: false,
    ipv6Forwarding: false,
    announce: [],
    balancerTunnels: [],
    tunnelRoutes: [],
    l3Vips: [],
    loopbackVips: [],
    backendTunnels: [],
    arpHardening: false,
  };
}

export interface DataplaneModel {
  version: number;
  tables: NftTable[];
  host: HostPlan;
  services: ServicePlan[];
  backends: BackendPlan[];
  /** VIPs whose return-path traffic this host counts. */
  returnVips: string[];
  /** Canonical backend address -> id, and service name -> id, to pass back as previous ids. */
  ids: Record<string, number>;
  serviceIds: Record<string, number>;
  /** `tunnel|<address>` and `nat|<address>|<port>` -> id within the mark range. */
  stackIds: Record<string, number>;
  /** Ids of removed backends, kept out of use for a while: pass back as retiredIds. */
  retiredIds: RetiredIds;
  /** Non-fatal findings (e.g. a backend whose MAC is unknown), for status and the panel. */
  warnings: string[];
}

/** What a service object always yields, whatever the facts: computed once per object. */
interface ServiceShape {
  source: BalancerService;
  vip: string;
  addresses: string[];
}

/** Structural equality of parsed JSON values. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/** Reuses the fragments of services that did not change (the agent keeps one per balancer). */
export class ModelCache {
  readonly services = new Map<string, { shape: ServiceShape; facts: string; built: ServiceBuild }>();
  private readonly shapes = new WeakMap<BalancerService, ServiceShape>();
  /** The last full build: its input, so a patch can check it starts from the same state. */
  last?: { state: DesiredState; facts: HostFacts; model: DataplaneModel };
  /** From the last build: each service, where its backends sit in model.backends and its plan in model.services. */
  byName = new Map<string, ServicePlace>();

  shape(s: BalancerService): ServiceShape {
    let shape = this.shapes.get(s);
    if (!shape) {
      // A new document repeats most services unchanged: reuse their shape.
      const previous = this.services.get(s.name)?.shape;
      shape =
        previous && sameJson(previous.source, s)
          ? previous
          : { source: s, vip: canonicalIp(s.vip), addresses: s.backends.map((b) => canonicalIp(b.address)) };
      this.shapes.set(s, shape);
    }
    return shape;
  }
}

/** Where a service of the last build sits in its model. */
interface ServicePlace {
  service: BalancerService;
  first: number;
  count: number;
  plan: number;
}

/** Everything one balancer service contributes, cached by its signature. */
interface ServiceBuild {
  fragment: Fragment;
  /** Class chain it belongs to, and the chains that class needs. */
  chains: [string, NftChain][];
  /** The flow table it pins flows in. */
  flowTable: [string, NftSet];
  backends: BackendPlan[];
  service: ServicePlan;
  routes: TunnelRoute[];
  warnings: string[];
}

interface ServiceContext {
  s: BalancerService;
  sid: number;
  ifname: string;
  ifmac: string;
  ids: Record<string, number>;
  /** Ids within the mark range by stack key: `tunnel|<address>`, `nat|<address>|<port>`. */
  stack: Record<string, number>;
  range: MarkRange;
  facts: HostFacts;
  unhealthy: Set<string>;
}

/** The key of a backend's value in the mark range: its host for L3, its target for NAT. */
const stackKey = (mode: 'l3' | 'nat', b: { address: string; port?: number | undefined }) =>
  mode === 'l3' ? `tunnel|${b.address}` : `nat|${b.address}|${b.port ?? ''}`;

function buildService(c: ServiceContext): ServiceBuild {
  const { s, sid, ifname } = c;
  const vip = canonicalIp(s.vip);
  const family = ipFamily(vip);
  const svcMark = (sid << 16) >>> 0;
  const [lo, hi] = servicePorts(s);
  const elements = new Map<string, Map<string, string | null>>();
  const warnings: string[] = [];

  // Maglev over every configured backend (whatever its state), in address order;
  // unusable ones are then overlaid, so state changes move only their own flows.
  const members = [...s.backends].map((b) => ({ ...b, address: canonicalIp(b.address) })).sort(byString((b) => b.address));
  const m = maglevTableSize(members.length);
  const conditions: BackendCondition[] = members.map((b) => {
    if (b.state === 'disabled') return 'disabled';
    if (b.state === 'draining') return 'draining';
    if (s.mode === 'l2' && !b.mac && !c.facts.neighbours[neighbourKey(ifname, b.address)]) return 'unresolved';
    if (c.unhealthy.has(backendKey(s.name, b.address))) return 'down';
    return 'usable';
  });
  // Members are in key order already, so the table's indexes are theirs.
  const { table: lut } = serviceLookupTable(
    members.map((b, i) => ({ key: b.address, weight: b.weight, usable: conditions[i] === 'usable' })),
  );
  const marks = members.map((b) => (svcMark | c.ids[b.address]!) >>> 0);
  const slots = new Array<number>(members.length).fill(0);
  const svc = hex(svcMark);
  lut.forEach((owner, slot) => {
    if (owner < 0) return;
    slots[owner]!++;
    addElement(elements, 'lut', concat(svc, slot), hex(MARK_NEW_FLOW | marks[owner]!));
  });

  // A single port is an exact-match element (a hash lookup, whatever the number
  // of services); only port ranges go to the interval map.
  const portKey = lo === hi ? String(lo) : interval(lo, hi);
  addElement(elements, lo === hi ? dispatchMap(family, ifname) : rangeMap(family, ifname), concat(vip, s.protocol, portKey), svc);
  const flows = flowSettings(s, family);
  const out = s.mode === 'l2' ? `l2_${ifname}` : s.mode;
  const className = `c_${out}_m${m}_${flows.name}`;
  addElement(elements, 'classes', svc, gotoElement(className));
  if (s.mode !== 'nat')
    addIcmpElements(elements, {
      svc,
      vip,
      family,
      protocol: s.protocol,
      portKey,
      ifname,
      m,
      flows,
    });
  for (const set of ['svc_packets', 'svc_new', 'svc_drops', 'svc_flows_full']) addElement(elements, set, svc, null);

  const routes: TunnelRoute[] = [];
  const backends: BackendPlan[] = members.map((b, i) => {
    const mark = marks[i]!;
    addElement(elements, 'backend_packets', hex(mark), null);
    addElement(elements, 'backend_new', hex(MARK_NEW_FLOW | mark), null);
    // Pinned flows keep reaching usable and draining backends, no others.
    if (conditions[i] === 'usable' || conditions[i] === 'draining') addElement(elements, 'takes_traffic', hex(mark), null);
    if (s.mode === 'l2') {
      const mac = b.mac ?? c.facts.neighbours[neighbourKey(ifname, b.address)];
      if (mac) addElement(elements, 'macs', hex(mark), checkMac(mac));
      else warnings.push(`service ${s.name}: no MAC known for backend ${b.address} on ${ifname}`);
    } else if (s.mode === 'nat') {
      // Conntrack pins a NAT flow to its backend; the mark (the target's value in
      // the mark range) picks the target of its first packet.
      addElement(elements, 'nat_values', hex(mark), hex(markValue(c.range, c.stack[stackKey('nat', b)]!, false)));
    } else {
      const id = c.stack[stackKey('l3', b)]!;
      const value = markValue(c.range, id, true);
      addElement(elements, 'tunnels', hex(mark), hex(value));
      routes.push({
        id,
        mark: value,
        table: TUNNEL_TABLE_BASE + id,
        underlay: b.address,
        tunnel: s.tunnel ?? 'ipip',
        families: [family],
      });
    }
    return {
      service: s.name,
      address: b.address,
      mark,
      condition: conditions[i]!,
      slots: slots[i]!,
      flowMap: flows.map,
    };
  });

  return {
    fragment: fragmentOf(elements),
    chains: [
      ...classChains(className, out, flows, m, s.mode === 'l2' ? { ifname, mac: c.ifmac } : undefined),
      ...(s.mode === 'nat' ? [] : [icmpClassChain(ifname, flows, m)]),
    ],
    flowTable: [flows.map, flowTableSet(flows)],
    backends,
    service: { name: s.name, mark: svcMark, mode: s.mode, interface: ifname, tableSize: m },
    routes,
    warnings,
  };
}

/**
 * The DNAT targets of all NAT services, by their value in the mark range. Services
 * that send to the same address and port share one target, so its elements belong
 * to the table rather than to a service: a service that drops the target must not
 * take it from another that still uses it.
 */
function natTargets(services: BalancerService[], stack: Record<string, number>, range: MarkRange): Fragment {
  const elements = new Map<string, Map<string, string | null>>();
  for (const s of services) {
    if (s.mode !== 'nat') continue;
    for (const backend of s.backends) {
      const b = { address: canonicalIp(backend.address), port: backend.port };
      const value = hex(markValue(range, stack[stackKey('nat', b)]!, false));
      addElement(elements, 'nat_backends', value, null);
      const family = ipFamily(b.address);
      if (b.port !== undefined) addElement(elements, `nat_to${family}`, value, concat(b.address, b.port));
      else addElement(elements, `nat_addr${family}`, value, b.address);
    }
  }
  return fragmentOf(elements);
}

/** Exact-match dispatch map of an interface: (VIP, protocol, port) -> service mark. */
const dispatchMap = (family: 4 | 6, ifname: string) => `dispatch${family}_${ifname}`;
/** Interval dispatch map of an interface, for services listening on a port range. */
const rangeMap = (family: 4 | 6, ifname: string) => `ranges${family}_${ifname}`;

const BY_MARK = { typeof: MARK };
const MARKS: NftSet = { key: BY_MARK };
const COUNTED_MARKS: NftSet = { key: BY_MARK, counter: true };
/** Mark -> mark. */
const MARK_MAP: NftSet = { key: BY_MARK, value: BY_MARK };
/** Mark -> the chain of its class. */
const VERDICTS: NftSet = { key: BY_MARK, value: 'verdict' };
const BALANCER_SETS: [string, NftSet][] = [
  ['classes', VERDICTS],
  // (service mark, slot); typeof needs an expression, and `numgen inc mod 2` is one of the slot's type (a 32-bit integer).
  ['lut', { key: { typeof: { kind: 'concat', parts: [MARK, { kind: 'numgen', mod: 2 }] } }, value: BY_MARK }],
  ['takes_traffic', MARKS],
  ['macs', { key: BY_MARK, value: { typeof: payload('ether', 'daddr') } }],
  ['tunnels', MARK_MAP],
  ['svc_packets', COUNTED_MARKS],
  ['svc_new', COUNTED_MARKS],
  ['svc_drops', COUNTED_MARKS],
  /** New flows of a service that its full flow table could not pin. */
  ['svc_flows_full', COUNTED_MARKS],
  ['backend_packets', COUNTED_MARKS],
  ['backend_new', COUNTED_MARKS],
];

/** The inet table's part of NAT services: targets by backend mark. */
const NAT_SETS: [string, NftSet][] = [
  ['nat_backends', MARKS],
  ['nat_to4', { key: { type: ['mark'] }, value: { type: ['ipv4_addr', 'inet_service'] } }],
  ['nat_addr4', { key: { type: ['mark'] }, value: { type: ['ipv4_addr'] } }],
  ['nat_to6', { key: { type: ['mark'] }, value: { type: ['ipv6_addr', 'inet_service'] } }],
  ['nat_addr6', { key: { type: ['mark'] }, value: { type: ['ipv6_addr'] } }],
];

/** The facts that matter to one service, as a string to compare with last time. */
function serviceFacts(c: ServiceContext, shape: ServiceShape): string {
  let out = `${c.sid}|${c.ifname}|${c.ifmac}|${c.range.mask}`;
  for (const [i, a] of shape.addresses.entries()) {
    const mode = c.s.mode;
    out += `|${c.ids[a]}:${mode === 'l2' ? '' : c.stack[stackKey(mode, { address: a, port: c.s.backends[i]!.port })]}:${c.s.mode === 'l2' ? (c.facts.neighbours[neighbourKey(c.ifname, a)] ?? '') : ''}:${c.unhealthy.has(backendKey(c.s.name, a)) ? 'down' : ''}`;
  }
  return out;
}

/** Builds the whole model. Throws ModelError for states this host cannot carry out. */
export function buildModel(state: DesiredState, facts: HostFacts, cache: ModelCache = new ModelCache()): DataplaneModel {
  const warnings: string[] = [];
  const netdev = newTable('netdev');
  const inet = newTable('inet');
  const unhealthy = new Set(facts.unhealthy);
  const services = [...(state.balancer?.services ?? [])].sort(byString((s) => s.name));
  const range = markRange(state.balancer?.markMask);
  const addresses = new Set<string>();
  for (const s of services) for (const a of cache.shape(s).addresses) addresses.add(a);
  // Ids of removed backends stay out of use while pins naming them may live.
  const now = facts.now ?? 0;
  const retired: RetiredIds = {};
  for (const [k, r] of Object.entries(facts.retiredIds ?? {})) if (r.until > now && !addresses.has(k)) retired[k] = r;
  const returning = Object.fromEntries(
    Object.entries(facts.retiredIds ?? {}).flatMap(([k, r]) => (r.until > now && addresses.has(k) ? [[k, r.id]] : [])),
  );
  const ids = allocateIds(
    addresses,
    MAX_BACKEND_ID,
    // A backend that returns within its quarantine gets its own id back (its pins name its own host).
    { ...returning, ...facts.previousIds },
    Object.values(retired).map((r) => r.id),
  );
  const quarantine = Math.max(MIN_ID_QUARANTINE_S, ...services.map((s) => s.flowTimeoutS ?? 0));
  for (const [k, id] of Object.entries(facts.previousIds ?? {})) if (!addresses.has(k)) retired[k] = { id, until: now + quarantine };
  const stackIds: Record<string, number> = {};
  for (const mode of ['l3', 'nat'] as const) {
    const keys = services
      .filter((s) => s.mode === mode)
      .flatMap((s) => s.backends.map((b) => stackKey(mode, { address: canonicalIp(b.address), port: b.port })));
    try {
      Object.assign(stackIds, allocateIds(keys, range.maxId, facts.previousStackIds));
    } catch (err) {
      if (!(err instanceof ModelError)) throw err;
      throw new ModelError(
        `the mark range ${hex(range.mask)} numbers at most ${range.maxId} ${mode === 'l3' ? 'L3 backend hosts' : 'NAT targets'}; widen balancer.markMask`,
      );
    }
  }
  const serviceIds = allocateIds(
    services.map((s) => s.name),
    MAX_SERVICE_ID,
    facts.previousServiceIds,
    [RESERVED_SERVICE_ID],
  );

  const host = emptyHostPlan(range);
  const routes = new Map<number, TunnelRoute>();
  const interfaces = new Set<string>();
  const announced = new Set<string>();
  const l3Vips = new Set<string>();
  const plans: ServicePlan[] = [];
  const backendPlans: BackendPlan[] = [];
  const seen = new Set<string>();
  const byName = new Map<string, ServicePlace>();

  for (const s of services) {
    const ifname = facts.serviceInterfaces[s.name];
    if (!ifname) throw new ModelError(`service ${s.name}: no ingress interface resolved`);
    const iface = facts.interfaces[ifname];
    if (!iface) throw new ModelError(`service ${s.name}: interface ${ifname} does not exist on this host`);
    checkInterface(ifname);
    interfaces.add(ifname);
    const ctx: ServiceContext = { s, sid: serviceIds[s.name]!, ifname, ifmac: iface.mac, ids, stack: stackIds, range, facts, unhealthy };
    const shape = cache.shape(s);
    const factsKey = serviceFacts(ctx, shape);
    let cached = cache.services.get(s.name);
    if (!cached || cached.facts !== factsKey || cached.shape !== shape) {
      cached = { shape, facts: factsKey, built: buildService(ctx) };
      cache.services.set(s.name, cached);
    }
    seen.add(s.name);
    const b = cached.built;
    netdev.fragments.set(`service ${s.name}`, b.fragment);
    for (const [name, chain] of b.chains) netdev.chains.set(name, chain);
    netdev.sets.set(...b.flowTable);
    plans.push(b.service);
    byName.set(s.name, { service: s, first: backendPlans.length, count: b.backends.length, plan: plans.length - 1 });
    backendPlans.push(...b.backends);
    warnings.push(...b.warnings);
    for (const r of b.routes) {
      const existing = routes.get(r.id);
      if (existing && existing.tunnel !== r.tunnel) {
        throw new ModelError(
          `backend ${r.underlay} is reached through both ${existing.tunnel} and ${r.tunnel}; one tunnel type per backend host`,
        );
      }
      const merged = existing ?? { ...r, families: [] };
      for (const f of r.families) if (!merged.families.includes(f)) merged.families.push(f);
      routes.set(r.id, merged);
    }
    const vip = shape.vip;
    if (s.mode === 'nat') {
      if (ipFamily(vip) === 4) host.ipv4Forwarding = true;
      else host.ipv6Forwarding = true;
    }
    if (s.mode === 'l2' || s.mode === 'nat') {
      // With VRRP, keepalived (driven by the agent's announcer) owns these VIPs, on one balancer at a time.
      if (!state.balancer?.announce?.vrrp && !announced.has(`${vip}|${ifname}`)) {
        announced.add(`${vip}|${ifname}`);
        host.announce.push({ vip, interface: ifname });
      }
    } else {
      const tunnel = s.tunnel ?? 'ipip';
      if (!host.balancerTunnels.includes(tunnel)) host.balancerTunnels.push(tunnel);
      if (!l3Vips.has(vip)) {
        l3Vips.add(vip);
        host.l3Vips.push(vip);
      }
      if (ipFamily(vip) === 4) host.ipv4Forwarding = true;
      else host.ipv6Forwarding = true;
    }
  }
  for (const name of cache.services.keys()) if (!seen.has(name)) cache.services.delete(name);

  if (services.length > 0) {
    for (const [name, set] of BALANCER_SETS) netdev.sets.set(name, set);
    netdev.sets.set('icmp_classes', VERDICTS);
    for (const ifname of [...interfaces].sort()) {
      const rules: Statement[][] = [];
      const icmp = icmpInterface(ifname, facts.interfaces[ifname]!.mac);
      for (const family of [4, 6] as const) {
        const key: Expr = {
          kind: 'concat',
          parts: [ipAddress(family, 'daddr'), L4PROTO, payload('th', 'dport')],
        };
        netdev.sets.set(dispatchMap(family, ifname), { key: { typeof: key }, value: BY_MARK });
        netdev.sets.set(rangeMap(family, ifname), { key: { typeof: key }, value: BY_MARK, interval: true });
        for (const map of [dispatchMap(family, ifname), rangeMap(family, ifname)]) {
          rules.push([markFrom(key, map), { kind: 'vmap', of: MARK, map: 'classes' }]);
        }
      }
      netdev.chains.set(`in_${ifname}`, {
        hook: { type: 'filter', hook: 'ingress', device: ifname, priority: INGRESS_PRIORITY },
        rules: [...rules, ...icmp.rules],
      });
      for (const [name, set] of icmp.sets) netdev.sets.set(name, set);
      for (const [name, chain] of icmp.chains) netdev.chains.set(name, chain);
    }
  }

  if (services.some((s) => s.mode === 'nat')) {
    // The classic path, for backends that cannot do DSR: destination NAT to the
    // backend the ingress chain chose, and source NAT to the balancer, so replies
    // come back through it.
    netdev.sets.set('nat_values', MARK_MAP);
    for (const [name, set] of NAT_SETS) inet.sets.set(name, set);
    inet.fragments.set('nat targets', natTargets(services, stackIds, range));
    // Only Tula's bits of the mark and of the conntrack mark are read or written:
    // the range's top bit marks, in the conntrack mark, a connection Tula translated.
    const ours = masked(MARK, range.mask);
    const translate = (family: 4 | 6, withPort: boolean): Statement[] => [
      { kind: 'family', family },
      ...(withPort ? [match(L4PROTO, { kind: 'anon', names: ['tcp', 'udp'] })] : []),
      { kind: 'dnat', family, to: { kind: 'lookup', of: ours, map: withPort ? `nat_to${family}` : `nat_addr${family}` } },
    ];
    inet.chains.set('nat_in', {
      hook: { type: 'nat', hook: 'prerouting', priority: 'dstnat' },
      rules: [
        [
          match(ours, setRef('nat_backends')),
          assign(CT_MARK, { kind: 'and', of: CT_MARK, mask: hexValue(~range.mask), or: hexValue(range.tunnel) }),
        ],
        translate(4, true),
        translate(4, false),
        translate(6, true),
        translate(6, false),
      ],
    });
    inet.chains.set('nat_out', {
      hook: { type: 'nat', hook: 'postrouting', priority: 'srcnat' },
      rules: [[match(masked(CT_MARK, range.mask), hexValue(range.tunnel), '=='), { kind: 'masquerade' }]],
    });
  }

  host.tunnelRoutes = [...routes.values()].sort((a, b) => a.id - b.id);
  host.balancerTunnels.sort();
  if (host.tunnelRoutes.length > 0) {
    // Tunnelled packets must not be tracked: the balancer sees one direction only.
    for (const [name, chain] of notrackChains(range)) inet.chains.set(name, chain);
    if (host.balancerTunnels.includes('vxlan')) {
      // Inner frames get fixed MACs: the receiver's device accepts them, and the
      // source never equals the receiver's own MAC (which VXLAN drops as a loop).
      netdev.chains.set('vxlan_out', {
        hook: { type: 'filter', hook: 'egress', device: TUNNEL_DEVICES.vxlan, priority: 0 },
        rules: [[assign(payload('ether', 'saddr'), name(VXLAN.senderMac)), assign(payload('ether', 'daddr'), name(VXLAN.receiverMac))]],
      });
    }
  }

  if (host.l3Vips.length > 0) l3VipGuard(inet, host.l3Vips, range);

  // Backend host: VIPs on lo, return-path counters, MSS clamp for tunnelled VIPs.
  const vips = [...(state.backend?.vips ?? [])].map((v) => ({ ...v, vip: canonicalIp(v.vip) })).sort(byString((v) => v.vip));
  const returnVips: string[] = [];
  if (vips.length > 0) {
    host.arpHardening = true;
    const clamp: Statement[][] = [];
    const elements = new Map<string, Map<string, string | null>>();
    for (const v of vips) {
      host.loopbackVips.push(v.vip);
      returnVips.push(v.vip);
      const fam = ipFamily(v.vip);
      addElement(elements, `return${fam}`, v.vip, null);
      if (v.mode === 'l3') {
        const t = v.tunnel ?? 'ipip';
        if (!host.backendTunnels.includes(t)) host.backendTunnels.push(t);
      }
      const mss = v.mss ?? (v.mode === 'l3' ? tunnelMss(v.tunnel ?? 'ipip', fam) : undefined);
      if (mss !== undefined) {
        clamp.push([
          match(ipAddress(fam, 'saddr'), name(v.vip)),
          tcpFlags(['syn', 'ack'], ['syn', 'ack']),
          match({ kind: 'mss' }, int(mss), '>'),
          assign({ kind: 'mss' }, int(mss)),
        ]);
      }
    }
    host.backendTunnels.sort();
    if (host.backendTunnels.length > 0) tunnelPeers(inet, vips, host.backendTunnels, warnings);
    inet.fragments.set('vips', fragmentOf(elements));
    inet.sets.set('return4', { key: { type: ['ipv4_addr'] }, counter: true });
    inet.sets.set('return6', { key: { type: ['ipv6_addr'] }, counter: true });
    inet.chains.set('return_path', {
      hook: { type: 'filter', hook: 'output', priority: 0 },
      rules: [[match(ipAddress(4, 'saddr'), setRef('return4'))], [match(ipAddress(6, 'saddr'), setRef('return6'))]],
    });
    if (clamp.length > 0) inet.chains.set('mss_clamp', { hook: { type: 'filter', hook: 'output', priority: 'mangle' }, rules: clamp });
  }

  const model: DataplaneModel = {
    version: state.version,
    tables: [netdev, inet].filter((t) => t.chains.size > 0),
    host,
    services: plans,
    backends: backendPlans,
    returnVips,
    ids,
    serviceIds,
    stackIds,
    retiredIds: retired,
    warnings,
  };
  cache.last = { state, facts, model };
  cache.byName = byName;
  return model;
}

/**
 * The model after health changes of some services' backends, built from the
 * last full build without revisiting the other services: the cost of a backend
 * going down or up does not grow with the number of services. Returns undefined
 * when the cache cannot patch (another state, or nothing built yet).
 */
export function patchModel(
  state: DesiredState,
  unhealthy: readonly string[],
  services: ReadonlySet<string>,
  cache: ModelCache,
): DataplaneModel | undefined {
  const last = cache.last;
  if (!last || last.state !== state) return undefined;
  const changed = new Map<string, BalancerService>();
  for (const name of services) {
    const at = cache.byName.get(name);
    if (!at) return undefined;
    changed.set(name, at.service);
  }
  return patchServices(state, { ...last.facts, unhealthy: [...unhealthy] }, changed, last.model.retiredIds, cache, false);
}

/** The parts of a service that ids, chains, flow tables and the host plan follow from. */
function sameFrame(a: BalancerService, b: BalancerService, cache: ModelCache): boolean {
  if (a.vip !== b.vip || a.mode !== b.mode || a.interface !== b.interface || a.tunnel !== b.tunnel) return false;
  const targets = (s: BalancerService) =>
    cache
      .shape(s)
      .addresses.map((address, i) => `${address}|${s.backends[i]!.port ?? ''}`)
      .sort()
      .join(' ');
  return targets(a) === targets(b);
}

/** The document less its version and services: what every service's build shares. */
const frame = (state: DesiredState) => ({
  ...state,
  version: 0,
  ...(state.balancer && { balancer: { ...state.balancer, services: [] } }),
});

/**
 * The model for a new document that differs from the last build's only in some
 * services (the same names, and for each changed one the same VIP, mode,
 * interface, tunnel and backends, so ids, chains and the host plan stay): only
 * those services are built again, so the cost follows what changed. Returns
 * undefined unless the facts are the last build's, including the ids it gave out
 * (the same objects: proof that the caller holds that model); then build instead.
 * `changed`: the services of `state` whose contents differ from the last build's.
 */
export function patchDocument(
  state: DesiredState,
  facts: HostFacts,
  cache: ModelCache,
): { model: DataplaneModel; changed: BalancerService[] } | undefined {
  const last = cache.last;
  if (!last) return undefined;
  const base = last.model;
  if (
    facts.previousIds !== base.ids ||
    facts.previousServiceIds !== base.serviceIds ||
    facts.previousStackIds !== base.stackIds ||
    facts.retiredIds !== base.retiredIds ||
    !sameJson(facts.interfaces, last.facts.interfaces) ||
    !sameJson(facts.serviceInterfaces, last.facts.serviceInterfaces) ||
    !sameJson(facts.neighbours, last.facts.neighbours) ||
    !sameJson(frame(state), frame(last.state))
  )
    return undefined;
  const services = state.balancer?.services ?? [];
  if (services.length !== cache.byName.size) return undefined;
  const changed = new Map<string, BalancerService>();
  for (const s of services) {
    const at = cache.byName.get(s.name);
    if (!at || changed.has(s.name)) return undefined;
    if (at.service === s || sameJson(at.service, s)) continue;
    if (!sameFrame(at.service, s, cache)) return undefined;
    changed.set(s.name, s);
  }
  // Services whose backends changed health are built again too.
  const before = new Set(last.facts.unhealthy);
  const after = new Set(facts.unhealthy);
  const edited = [...changed.values()];
  for (const key of [...[...before].filter((k) => !after.has(k)), ...[...after].filter((k) => !before.has(k))]) {
    const name = key.slice(0, key.lastIndexOf('|'));
    const at = cache.byName.get(name);
    if (at && !changed.has(name)) changed.set(name, at.service);
  }
  // Ids of removed backends retire as in a build; no backend is added or removed here.
  const now = facts.now ?? 0;
  const retired: RetiredIds = Object.fromEntries(Object.entries(base.retiredIds).filter(([, r]) => r.until > now));
  const model = patchServices(state, facts, changed, retired, cache, true);
  return model && { model, changed: edited };
}

/**
 * The last build with `changed` services built again from `facts`. With
 * `sameShape`, undefined when a service would need other chains, flow tables
 * or host changes than it had (then the model must be built).
 */
function patchServices(
  state: DesiredState,
  facts: HostFacts,
  changed: ReadonlyMap<string, BalancerService>,
  retiredIds: RetiredIds,
  cache: ModelCache,
  sameShape: boolean,
): DataplaneModel | undefined {
  const base = cache.last!.model;
  const down = new Set(facts.unhealthy);
  const fragments = new Map(base.tables.map((t) => [t, new Map(t.fragments)]));
  const entries = new Map<string, { shape: ServiceShape; facts: string; built: ServiceBuild }>();
  const backends = base.backends.slice();
  const plans = base.services.slice();
  for (const [name, s] of changed) {
    const at = cache.byName.get(name);
    const cached = cache.services.get(name);
    if (!at || !cached) return undefined;
    const ifname = facts.serviceInterfaces[name]!;
    const ctx: ServiceContext = {
      s,
      sid: base.serviceIds[name]!,
      ifname,
      ifmac: facts.interfaces[ifname]!.mac,
      ids: base.ids,
      stack: base.stackIds,
      range: base.host.markRange,
      facts,
      unhealthy: down,
    };
    const shape = cache.shape(s);
    const factsKey = serviceFacts(ctx, shape);
    const entry = factsKey === cached.facts && shape === cached.shape ? cached : { shape, facts: factsKey, built: buildService(ctx) };
    const built = entry.built;
    if (
      sameShape &&
      !(
        sameJson(built.chains, cached.built.chains) &&
        sameJson(built.flowTable, cached.built.flowTable) &&
        sameJson(built.service, cached.built.service) &&
        sameJson(built.routes, cached.built.routes)
      )
    )
      return undefined;
    entries.set(name, entry);
    // A service's NAT targets are the table's (`natTargets`), and a patch keeps every service's targets.
    for (const [t, m] of fragments) if (t.family === 'netdev') m.set(`service ${name}`, built.fragment);
    backends.splice(at.first, at.count, ...built.backends);
    plans[at.plan] = built.service;
  }
  for (const [name, entry] of entries) {
    cache.services.set(name, entry);
    cache.byName.set(name, { ...cache.byName.get(name)!, service: changed.get(name)! });
  }
  const keys = new Set([...changed.keys()].map((n) => `service ${n}`));
  const model: DataplaneModel = {
    ...base,
    version: state.version,
    tables: base.tables.map((t) => {
      const after = fragments.get(t)!;
      if (![...keys].some((k) => after.get(k) !== t.fragments.get(k))) return t;
      const patched: NftTable = {
        family: t.family,
        sets: t.sets,
        chains: t.chains,
        fragments: after,
        id: newTableId(),
        patch: { from: t.id, keys },
      };
      // The digest follows from the base's, touching only the patched fragments.
      const combined = Buffer.from(fragmentsDigest(t));
      for (const k of keys) {
        const was = t.fragments.get(k);
        const now = after.get(k);
        if (was) xorInto(combined, fragmentDigest(k, was));
        if (now) xorInto(combined, fragmentDigest(k, now));
      }
      combinedDigests.set(patched, combined);
      return patched;
    }),
    services: plans,
    backends,
    retiredIds,
    warnings: [
      ...base.warnings.filter((w) => ![...changed.keys()].some((n) => w.startsWith(`service ${n}:`))),
      ...[...entries.values()].flatMap((e) => e.built.warnings),
    ],
  };
  cache.last = { state, facts, model };
  return model;
}
