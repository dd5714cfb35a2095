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
// Packet mark while Tula handles a packet:  [new:1][service:15][backend:16]
import {
  canonicalIp,
  FLOW_DEFAULTS,
  ipFamily,
  servicePorts,
  type BalancerService,
  type DesiredState,
  type TunnelType,
} from '@tula/protocol';
import { createHash } from 'node:crypto';
import { byString, fnv1a32 } from './hash.ts';
import { serviceLookupTable } from './lookup-change.ts';
import { maglevTableSize } from './maglev.ts';

export const TABLE_NAME = 'tula';
export const MAX_BACKEND_ID = 0xffff;
export const MAX_SERVICE_ID = 0x7fff;
/** Set on marks chosen by the Maglev table rather than the flow table: a new flow. */
export const MARK_NEW_FLOW = 0x8000_0000;
export const SERVICE_MASK = 0x7fff_0000;
/** The backend part of a mark: zero in a service mark, so a mark with it set came from a pin. */
export const BACKEND_MASK = 0x0000_ffff;
/** Marks that route a packet into a tunnel: base | backend id; also the routing table number. */
export const TUNNEL_MARK_BASE = 0x5455_0000;
export const TUNNEL_MARK_MASK = 0xffff_0000;
/** Service id never allocated, so a service mark never looks like a tunnel mark. */
const RESERVED_SERVICE_ID = TUNNEL_MARK_BASE >>> 16;
export const INGRESS_PRIORITY = -300;
/** One seed for every Maglev hash: the same on every balancer and across reloads. */
export const HASH_SEED = 0x7475_6c61;
const FLOW_SEEDS = [0x5eed_0001, 0x5eed_0002] as const;
export const VXLAN = {
  port: 4789,
  vni: 4242,
  /** Inner source MAC of frames balancers send into VXLAN (see the vxlan_out chain). */
  senderMac: '02:54:55:4c:41:01',
  /** MAC of every host's tula-vxlan device; balancers address inner frames to it. */
  receiverMac: '02:54:55:4c:41:02',
} as const;
export const TUNNEL_DEVICES: Record<TunnelType, string> = { ipip: 'tula-ipip', gre: 'tula-gre', vxlan: 'tula-vxlan' };

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
}

export interface NftSet {
  /** Everything between the braces except elements, e.g. "typeof meta mark : verdict;". */
  decl: string;
  /** Elements the kernel adds itself (flow tables): never rendered or diffed. */
  dynamic?: boolean;
}

export interface NftChain {
  /** Base-chain header, e.g. 'type filter hook ingress device "e0" priority -300; policy accept;'. */
  hook?: string;
  rules: string[];
}

/** The elements one owner (a service, a VIP) puts into the table's sets. */
export interface Fragment {
  /** Content hash: equal hashes mean equal elements. */
  hash: string;
  /** Set name -> element key -> value (null in a set). Rendered text. */
  elements: Map<string, Map<string, string | null>>;
}

export interface NftTable {
  family: 'netdev' | 'inet';
  sets: Map<string, NftSet>;
  chains: Map<string, NftChain>;
  fragments: Map<string, Fragment>;
  /** Identity of this table value, so a patch can name the table it started from. */
  id: number;
  /** Set on a table patched from table `from`: only the `keys` fragments may differ. */
  patch?: { from: number; keys: ReadonlySet<string> };
}

let nextTableId = 1;
export const newTableId = () => nextTableId++;

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
  id: number;
  /** Firewall mark and policy-routing table number. */
  mark: number;
  underlay: string;
  tunnel: TunnelType;
  /** Address families of the VIPs routed through it. */
  families: (4 | 6)[];
}

export interface HostPlan {
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
  /** Non-fatal findings (e.g. a backend whose MAC is unknown), for status and the panel. */
  warnings: string[];
}

export class ModelError extends Error {
  override name = 'ModelError';
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
  /** From the last full build: each service, and where its backends sit in model.backends. */
  byName = new Map<string, { service: BalancerService; first: number; count: number }>();

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

// ---------------------------------------------------------------------------

export const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

function checkInterface(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(name)) throw new ModelError(`invalid interface name ${JSON.stringify(name)}`);
  return name;
}

function checkMac(mac: string): string {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new ModelError(`invalid MAC address ${JSON.stringify(mac)}`);
  return mac.toLowerCase();
}

/**
 * Stable ids: kept from the previous model, new ones from a hash of the key,
 * probing past collisions and reserved values.
 */
export function allocateIds(keys: Iterable<string>, max: number, previous: Record<string, number> = {}, reserved: number[] = []): Record<string, number> {
  const ids: Record<string, number> = {};
  const taken = new Set<number>(reserved);
  const missing = new Set<string>();
  for (const k of keys) {
    if (ids[k] !== undefined) continue;
    const id = previous[k];
    if (id !== undefined && id >= 1 && id <= max && !taken.has(id)) {
      ids[k] = id;
      taken.add(id);
    } else missing.add(k);
  }
  // New keys in a fixed order, so the same input always gives the same ids.
  for (const k of [...missing].sort()) {
    if (ids[k] !== undefined) continue;
    if (taken.size >= max) throw new ModelError(`more than ${max - reserved.length} distinct ids needed`);
    let id = (fnv1a32(k) % max) + 1;
    while (taken.has(id)) id = (id % max) + 1;
    ids[k] = id;
    taken.add(id);
  }
  return ids;
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const digests = new WeakMap<Fragment, { key: string; digest: Buffer }>();
const combinedDigests = new WeakMap<NftTable, Buffer>();

function fragmentDigest(key: string, f: Fragment): Buffer {
  let d = digests.get(f);
  if (!d || d.key !== key) digests.set(f, (d = { key, digest: createHash('sha256').update(`${key}\t${f.hash}`).digest() }));
  return d.digest;
}

function xorInto(target: Buffer, d: Buffer) {
  for (let i = 0; i < 32; i++) target[i]! ^= d[i]!;
}

/** XOR of a table's fragment digests: independent of order, cheap to update for a patch. */
export function fragmentsDigest(t: NftTable): Buffer {
  let combined = combinedDigests.get(t);
  if (!combined) {
    combined = Buffer.alloc(32);
    for (const [k, f] of t.fragments) xorInto(combined, fragmentDigest(k, f));
    combinedDigests.set(t, combined);
  }
  return combined;
}

function fragmentOf(elements: Map<string, Map<string, string | null>>): Fragment {
  const canonical = [...elements]
    .filter(([, m]) => m.size > 0)
    .sort(byString(([set]) => set))
    .map(([set, m]) => [set, [...m]]);
  return { hash: sha(JSON.stringify(canonical)), elements };
}

function addElement(elements: Map<string, Map<string, string | null>>, set: string, key: string, value: string | null) {
  let m = elements.get(set);
  if (!m) elements.set(set, (m = new Map()));
  m.set(key, value);
}

/** Everything one balancer service contributes, cached by its signature. */
interface ServiceBuild {
  fragment: Fragment;
  /** NAT services: their DNAT targets, in the inet table. */
  natFragment?: Fragment;
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
  facts: HostFacts;
  unhealthy: Set<string>;
}

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
  const members = [...s.backends]
    .map((b) => ({ ...b, address: canonicalIp(b.address) }))
    .sort(byString((b) => b.address));
  const m = maglevTableSize(members.length);
  const conditions: BackendCondition[] = members.map((b) => {
    if (b.state === 'disabled') return 'disabled';
    if (b.state === 'draining') return 'draining';
    if (s.mode === 'l2' && !b.mac && !c.facts.neighbours[`${ifname}|${b.address}`]) return 'unresolved';
    if (c.unhealthy.has(`${s.name}|${b.address}`)) return 'down';
    return 'usable';
  });
  // Members are in key order already, so the table's indexes are theirs.
  const { table: lut } = serviceLookupTable(members.map((b, i) => ({ key: b.address, weight: b.weight, usable: conditions[i] === 'usable' })));
  const marks = members.map((b) => (svcMark | c.ids[b.address]!) >>> 0);
  const slots = new Array<number>(members.length).fill(0);
  const svc = hex(svcMark);
  lut.forEach((owner, slot) => {
    if (owner < 0) return;
    slots[owner]!++;
    addElement(elements, 'lut', `${svc} . ${slot}`, hex(MARK_NEW_FLOW | marks[owner]!));
  });

  // A single port is an exact-match element (a hash lookup, whatever the number
  // of services); only port ranges go to the interval map.
  if (lo === hi) addElement(elements, dispatchMap(family, ifname), `${vip} . ${s.protocol} . ${lo}`, svc);
  else addElement(elements, rangeMap(family, ifname), `${vip} . ${s.protocol} . ${lo}-${hi}`, svc);
  const flows = flowSettings(s, family);
  const out = s.mode === 'l2' ? `l2_${ifname}` : s.mode;
  const className = `c_${out}_m${m}_${flows.name}`;
  addElement(elements, 'classes', svc, `goto ${className}`);
  if (s.mode !== 'nat') addIcmpElements(elements, { svc, vip, family, protocol: s.protocol, portKey: lo === hi ? String(lo) : `${lo}-${hi}`, ifname, m, flows });
  for (const set of ['svc_packets', 'svc_new', 'svc_drops', 'svc_flows_full']) addElement(elements, set, svc, null);

  const routes: TunnelRoute[] = [];
  const nat = new Map<string, Map<string, string | null>>();
  const backends: BackendPlan[] = members.map((b, i) => {
    const mark = marks[i]!;
    addElement(elements, 'backend_packets', hex(mark), null);
    addElement(elements, 'backend_new', hex(MARK_NEW_FLOW | mark), null);
    // Pinned flows keep reaching usable and draining backends, no others.
    if (conditions[i] === 'usable' || conditions[i] === 'draining') addElement(elements, 'takes_traffic', hex(mark), null);
    if (s.mode === 'l2') {
      const mac = b.mac ?? c.facts.neighbours[`${ifname}|${b.address}`];
      if (mac) addElement(elements, 'macs', hex(mark), checkMac(mac));
      else warnings.push(`service ${s.name}: no MAC known for backend ${b.address} on ${ifname}`);
    } else if (s.mode === 'nat') {
      // Conntrack pins a NAT flow to its backend; the mark picks the target of its first packet.
      addElement(nat, 'nat_backends', hex(mark), null);
      if (b.port !== undefined) addElement(nat, `nat_to${family}`, hex(mark), `${b.address} . ${b.port}`);
      else addElement(nat, `nat_addr${family}`, hex(mark), b.address);
    } else {
      const id = c.ids[b.address]!;
      const tunnelMark = (TUNNEL_MARK_BASE | id) >>> 0;
      addElement(elements, 'tunnels', hex(mark), hex(tunnelMark));
      routes.push({ id, mark: tunnelMark, underlay: b.address, tunnel: s.tunnel ?? 'ipip', families: [family] });
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
    ...(s.mode === 'nat' && { natFragment: fragmentOf(nat) }),
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

/** Exact-match dispatch map of an interface: (VIP, protocol, port) -> service mark. */
const dispatchMap = (family: 4 | 6, ifname: string) => `dispatch${family}_${ifname}`;
/** Interval dispatch map of an interface, for services listening on a port range. */
const rangeMap = (family: 4 | 6, ifname: string) => `ranges${family}_${ifname}`;

/** How a class of services pins flows: which table, and for how long. */
interface FlowSettings {
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  size: number;
  /** Idle timeout of an established flow. */
  timeout: number;
  /** TCP: timeouts of a flow that has sent only a SYN, and of one that sent a FIN or RST. */
  syn: number;
  close: number;
  /** The flow table. The protocol and size are in its name rather than its key:
   * nft 1.0.6 cannot compile a dynamic update with a five-part key, and the class
   * chain knows its protocol anyway. */
  map: string;
  /** Names the settings in chain names. */
  name: string;
}

function flowSettings(s: BalancerService, family: 4 | 6): FlowSettings {
  const timeout = s.flowTimeoutS ?? FLOW_DEFAULTS.timeoutS[s.protocol];
  const size = s.flowTableSize ?? FLOW_DEFAULTS.tableSize;
  const syn = s.synTimeoutS ?? FLOW_DEFAULTS.synTimeoutS;
  const close = s.closeTimeoutS ?? FLOW_DEFAULTS.closeTimeoutS;
  return {
    family,
    protocol: s.protocol,
    size,
    timeout,
    syn,
    close,
    map: `flows${family}_${s.protocol}_${size}`,
    name: `${s.protocol}${family}_t${timeout}${s.protocol === 'tcp' ? `_s${syn}_c${close}` : ''}_n${size}`,
  };
}

function flowTableSet(f: FlowSettings): NftSet {
  // Keyed by two 32-bit hashes: see flowKeys.
  const key = 'numgen inc mod 2 . numgen inc mod 2';
  // No default timeout: services with other timeouts share the table, and every update names its own.
  return { decl: `typeof ${key} : meta mark; size ${f.size}; flags dynamic,timeout;`, dynamic: true };
}

/**
 * Where a flow's addresses and ports are read, oriented as the client's packets
 * travel (client -> VIP): from the packet itself, or from the response an ICMP
 * error quotes (see icmpChains).
 */
interface FlowFields {
  client: string;
  cport: string;
  vip: string;
  vport: string;
}

const PACKET_FIELDS: Record<4 | 6, FlowFields> = {
  4: { client: 'ip saddr', cport: 'th sport', vip: 'ip daddr', vport: 'th dport' },
  6: { client: 'ip6 saddr', cport: 'th sport', vip: 'ip6 daddr', vport: 'th dport' },
};

/** The key that identifies a flow in the flow tables, and the key Maglev hashes. */
function flowKeys(f: FlowFields): { pin: string; hash: string } {
  // Flows are keyed by two independent 32-bit hashes of the tuple (64 bits,
  // collisions negligible), for two reasons: nft 1.0.6 cannot compile a dynamic
  // update keyed by IPv6 addresses and ports (it aborts in register allocation),
  // and a hash is the only key an ICMP error's quoted packet (raw payload, which
  // nft types as plain integers) can look up: the bytes hashed are the same.
  const tuple = `${f.vip} . ${f.vport} . ${f.client} . ${f.cport}`;
  return {
    pin: FLOW_SEEDS.map((seed) => `jhash ${tuple} mod ${0xffffffff} seed ${hex(seed)}`).join(' . '),
    hash: `${f.client} . ${f.cport}`,
  };
}

/** The chains of one class of services, and the shared chains it jumps to. */
function classChains(name: string, out: string, f: FlowSettings, m: number, l2: { ifname: string; mac: string } | undefined): [string, NftChain][] {
  const keys = flowKeys(PACKET_FIELDS[f.family]);
  const syn = f.protocol === 'tcp' ? 'tcp flags & (syn | ack) == syn ' : '';
  const outChain = `o_${out}_${f.name}`;
  const newChain = `n_${out}_${f.name}`;
  const sendChain = `s_${out}`;
  const pin = (timeout: number) => `update @${f.map} { ${keys.pin} timeout ${timeout}s : meta mark } goto ${sendChain}`;
  return [
    [
      name,
      {
        rules: [
          'meta mark @svc_packets',
          // Established flows keep their backend while it takes traffic ...
          `meta mark set ${keys.pin} map @${f.map} meta mark @takes_traffic goto ${outChain}`,
          // ... a pin to a backend that takes none (down, disabled, removed) is
          // forgotten here, by the packet, so the flow is pinned afresh below: no
          // second transaction lists and releases pins after a change.
          `meta mark & ${hex(BACKEND_MASK)} != 0 delete @${f.map} { ${keys.pin} : meta mark }`,
          `meta mark set meta mark and ${hex(SERVICE_MASK)}`,
          `${syn}meta mark @svc_new`,
          // ... new ones take the Maglev slot of their hash ...
          `meta mark set meta mark . jhash ${keys.hash} mod ${m} seed ${hex(HASH_SEED)} map @lut goto ${newChain}`,
          // ... and with no usable backend, the traffic is dropped where it shows.
          'meta mark @svc_drops drop',
        ],
      },
    ],
    [newChain, { rules: [`${syn}meta mark @backend_new`, `meta mark set meta mark and ${hex(~MARK_NEW_FLOW)}`, `goto ${outChain}`] }],
    [
      outChain,
      {
        rules: [
          // TCP: a flow that has sent only a SYN (perhaps spoofed) is pinned
          // briefly, one that is closing briefly again, an established one for the
          // service's idle timeout. An existing entry is refreshed even when the
          // table is full, so established flows keep their backend under a flood.
          ...(f.protocol === 'tcp' ? [`tcp flags & (fin | rst) != 0 ${pin(f.close)}`, `tcp flags & (syn | ack) == syn ${pin(f.syn)}`] : []),
          pin(f.timeout),
          // Only a new flow the full table could not take gets here: it is counted,
          // and still forwarded by its Maglev slot.
          `meta mark & ${hex(SERVICE_MASK)} @svc_flows_full`,
          `goto ${sendChain}`,
        ],
      },
    ],
    [
      sendChain,
      {
        rules: [
          'meta mark @backend_packets',
          l2
            ? `ether saddr set ${checkMac(l2.mac)} ether daddr set meta mark map @macs fwd to "${l2.ifname}"`
            : out === 'nat'
              ? // On to the stack with the backend in the mark: the inet table's nat_in chain translates.
                'accept'
              : 'meta mark set meta mark map @tunnels accept',
          'drop',
        ],
      },
    ],
  ];
}

const BALANCER_SETS: [string, NftSet][] = [
  ['classes', { decl: 'typeof meta mark : verdict;' }],
  ['lut', { decl: 'typeof meta mark . numgen inc mod 2 : meta mark;' }],
  ['takes_traffic', { decl: 'typeof meta mark;' }],
  ['macs', { decl: 'typeof meta mark : ether daddr;' }],
  ['tunnels', { decl: 'typeof meta mark : meta mark;' }],
  ['svc_packets', { decl: 'typeof meta mark; counter;' }],
  ['svc_new', { decl: 'typeof meta mark; counter;' }],
  ['svc_drops', { decl: 'typeof meta mark; counter;' }],
  /** New flows of a service that its full flow table could not pin. */
  ['svc_flows_full', { decl: 'typeof meta mark; counter;' }],
  ['backend_packets', { decl: 'typeof meta mark; counter;' }],
  ['backend_new', { decl: 'typeof meta mark; counter;' }],
];

/** The inet table's part of NAT services: targets by backend mark. */
const NAT_SETS: [string, NftSet][] = [
  ['nat_backends', { decl: 'typeof meta mark;' }],
  ['nat_to4', { decl: 'type mark : ipv4_addr . inet_service;' }],
  ['nat_addr4', { decl: 'type mark : ipv4_addr;' }],
  ['nat_to6', { decl: 'type mark : ipv6_addr . inet_service;' }],
  ['nat_addr6', { decl: 'type mark : ipv6_addr;' }],
];
/** Conntrack mark of the connections Tula translated, so only they are masqueraded. */
export const NAT_CT_MARK = 0x5455_4e41;

function newTable(family: 'netdev' | 'inet'): NftTable {
  return { family, sets: new Map(), chains: new Map(), fragments: new Map(), id: nextTableId++ };
}

/** The facts that matter to one service, as a string to compare with last time. */
function serviceFacts(c: ServiceContext, shape: ServiceShape): string {
  let out = `${c.sid}|${c.ifname}|${c.ifmac}`;
  for (const a of shape.addresses) {
    out += `|${c.ids[a]}:${c.s.mode === 'l2' ? (c.facts.neighbours[`${c.ifname}|${a}`] ?? '') : ''}:${c.unhealthy.has(`${c.s.name}|${a}`) ? 'down' : ''}`;
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
  const ids = allocateIds(
    (function* () {
      for (const s of services) yield* cache.shape(s).addresses;
    })(),
    MAX_BACKEND_ID,
    facts.previousIds,
  );
  const serviceIds = allocateIds(
    services.map((s) => s.name),
    MAX_SERVICE_ID,
    facts.previousServiceIds,
    [RESERVED_SERVICE_ID],
  );

  const host: HostPlan = {
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
  const routes = new Map<number, TunnelRoute>();
  const interfaces = new Set<string>();
  const announced = new Set<string>();
  const l3Vips = new Set<string>();
  const plans: ServicePlan[] = [];
  const backendPlans: BackendPlan[] = [];
  const seen = new Set<string>();
  const byName = new Map<string, { service: BalancerService; first: number; count: number }>();

  for (const s of services) {
    const ifname = facts.serviceInterfaces[s.name];
    if (!ifname) throw new ModelError(`service ${s.name}: no ingress interface resolved`);
    const iface = facts.interfaces[ifname];
    if (!iface) throw new ModelError(`service ${s.name}: interface ${ifname} does not exist on this host`);
    checkInterface(ifname);
    interfaces.add(ifname);
    const ctx: ServiceContext = { s, sid: serviceIds[s.name]!, ifname, ifmac: iface.mac, ids, facts, unhealthy };
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
    if (b.natFragment) inet.fragments.set(`service ${s.name}`, b.natFragment);
    for (const [name, chain] of b.chains) netdev.chains.set(name, chain);
    netdev.sets.set(...b.flowTable);
    plans.push(b.service);
    byName.set(s.name, { service: s, first: backendPlans.length, count: b.backends.length });
    backendPlans.push(...b.backends);
    warnings.push(...b.warnings);
    for (const r of b.routes) {
      const existing = routes.get(r.id);
      if (existing && existing.tunnel !== r.tunnel) {
        throw new ModelError(`backend ${r.underlay} is reached through both ${existing.tunnel} and ${r.tunnel}; one tunnel type per backend host`);
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
    netdev.sets.set('icmp_classes', { decl: 'typeof meta mark : verdict;' });
    for (const ifname of [...interfaces].sort()) {
      const rules: string[] = [];
      const icmp = icmpInterface(ifname, facts.interfaces[ifname]!.mac);
      for (const [family, daddr] of [[4, 'ip daddr'], [6, 'ip6 daddr']] as const) {
        const key = `typeof ${daddr} . meta l4proto . th dport : meta mark;`;
        netdev.sets.set(dispatchMap(family, ifname), { decl: key });
        netdev.sets.set(rangeMap(family, ifname), { decl: `${key} flags interval;` });
        for (const map of [dispatchMap(family, ifname), rangeMap(family, ifname)]) {
          rules.push(`meta mark set ${daddr} . meta l4proto . th dport map @${map} meta mark vmap @classes`);
        }
      }
      netdev.chains.set(`in_${ifname}`, {
        hook: `type filter hook ingress device "${ifname}" priority ${INGRESS_PRIORITY}; policy accept;`,
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
    for (const [name, set] of NAT_SETS) inet.sets.set(name, set);
    inet.chains.set('nat_in', {
      hook: 'type nat hook prerouting priority dstnat; policy accept;',
      rules: [
        `meta mark @nat_backends ct mark set ${hex(NAT_CT_MARK)}`,
        'meta nfproto ipv4 meta l4proto { tcp, udp } dnat ip to meta mark map @nat_to4',
        'meta nfproto ipv4 dnat ip to meta mark map @nat_addr4',
        'meta nfproto ipv6 meta l4proto { tcp, udp } dnat ip6 to meta mark map @nat_to6',
        'meta nfproto ipv6 dnat ip6 to meta mark map @nat_addr6',
      ],
    });
    inet.chains.set('nat_out', {
      hook: 'type nat hook postrouting priority srcnat; policy accept;',
      rules: [`ct mark ${hex(NAT_CT_MARK)} masquerade`],
    });
  }

  host.tunnelRoutes = [...routes.values()].sort((a, b) => a.id - b.id);
  host.balancerTunnels.sort();
  if (host.tunnelRoutes.length > 0) {
    // Tunnelled packets must not be tracked: the balancer sees one direction only.
    for (const [name, chain] of notrackChains()) inet.chains.set(name, chain);
    if (host.balancerTunnels.includes('vxlan')) {
      // Inner frames get fixed MACs: the receiver's device accepts them, and the
      // source never equals the receiver's own MAC (which VXLAN drops as a loop).
      netdev.chains.set('vxlan_out', {
        hook: `type filter hook egress device "${TUNNEL_DEVICES.vxlan}" priority 0; policy accept;`,
        rules: [`ether saddr set ${VXLAN.senderMac} ether daddr set ${VXLAN.receiverMac}`],
      });
    }
  }

  if (host.l3Vips.length > 0) l3VipGuard(inet, host.l3Vips);

  // Backend host: VIPs on lo, return-path counters, MSS clamp for tunnelled VIPs.
  const vips = [...(state.backend?.vips ?? [])]
    .map((v) => ({ ...v, vip: canonicalIp(v.vip) }))
    .sort(byString((v) => v.vip));
  const returnVips: string[] = [];
  if (vips.length > 0) {
    host.arpHardening = true;
    const clamp: string[] = [];
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
        clamp.push(
          `${fam === 4 ? 'ip' : 'ip6'} saddr ${v.vip} tcp flags & (syn | ack) == (syn | ack) tcp option maxseg size > ${mss} tcp option maxseg size set ${mss}`,
        );
      }
    }
    host.backendTunnels.sort();
    if (host.backendTunnels.length > 0) tunnelPeers(inet, vips, host.backendTunnels, warnings);
    inet.fragments.set('vips', fragmentOf(elements));
    inet.sets.set('return4', { decl: 'type ipv4_addr; counter;' });
    inet.sets.set('return6', { decl: 'type ipv6_addr; counter;' });
    inet.chains.set('return_path', {
      hook: 'type filter hook output priority 0; policy accept;',
      rules: ['ip saddr @return4', 'ip6 saddr @return6'],
    });
    if (clamp.length > 0) inet.chains.set('mss_clamp', { hook: 'type filter hook output priority mangle; policy accept;', rules: clamp });
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
  const base = last.model;
  const facts: HostFacts = { ...last.facts, unhealthy: [...unhealthy] };
  const down = new Set(unhealthy);
  const netdev = base.tables.find((t) => t.family === 'netdev');
  if (!netdev) return undefined;
  const fragments = new Map(netdev.fragments);
  const rebuilt = new Map<string, ServiceBuild>();
  const backends = base.backends.slice();
  for (const name of services) {
    const at = cache.byName.get(name);
    const cached = cache.services.get(name);
    if (!at || !cached) return undefined;
    const s = at.service;
    const ifname = facts.serviceInterfaces[name]!;
    const ctx: ServiceContext = { s, sid: base.serviceIds[name]!, ifname, ifmac: facts.interfaces[ifname]!.mac, ids: base.ids, facts, unhealthy: down };
    const factsKey = serviceFacts(ctx, cached.shape);
    if (factsKey !== cached.facts) {
      cache.services.set(name, { shape: cached.shape, facts: factsKey, built: buildService(ctx) });
    }
    const built = cache.services.get(name)!.built;
    rebuilt.set(name, built);
    fragments.set(`service ${name}`, built.fragment);
    backends.splice(at.first, at.count, ...built.backends);
  }
  const model: DataplaneModel = {
    ...base,
    tables: base.tables.map((t) => {
      if (t !== netdev) return t;
      const keys = new Set([...services].map((n) => `service ${n}`));
      const patched: NftTable = { family: t.family, sets: t.sets, chains: t.chains, fragments, id: nextTableId++, patch: { from: t.id, keys } };
      // The digest follows from the base's, touching only the patched fragments.
      const combined = Buffer.from(fragmentsDigest(t));
      for (const k of keys) {
        const before = t.fragments.get(k);
        const after = fragments.get(k);
        if (before) xorInto(combined, fragmentDigest(k, before));
        if (after) xorInto(combined, fragmentDigest(k, after));
      }
      combinedDigests.set(patched, combined);
      return patched;
    }),
    backends,
    warnings: [
      ...base.warnings.filter((w) => ![...services].some((n) => w.startsWith(`service ${n}:`))),
      ...[...rebuilt.values()].flatMap((r) => r.warnings),
    ],
  };
  cache.last = { state, facts, model };
  return model;
}

// ---------------------------------------------------------------------------
// ICMP errors about DSR flows. A router that cannot pass a backend's response
// (Fragmentation Needed, Packet Too Big) or a client that refuses it sends the
// error to the response's source: the VIP, that is the balancer. The error
// quotes the response (VIP:port -> client:port), so the balancer looks the flow
// up with the quoted addresses and ports, through the same flow table and
// Maglev table its packets took, and hands the error to that backend.
//
// nft 1.0.6 has no inner-header expressions; the quoted header is read with raw
// payload expressions from the ICMP header (8 bytes) on. Only quoted headers
// without options or extension headers (IPv4 IHL 5, IPv6 next header TCP/UDP)
// and first fragments are steered; others go on as before (to the stack for an
// L2 VIP, dropped for an L3 VIP by the guard below).

/** The quoted response, oriented as the flow's client packets (see FlowFields). */
const QUOTED_FIELDS: Record<4 | 6, FlowFields & { proto: string }> = {
  4: { vip: '@th,160,32', client: '@th,192,32', vport: '@th,224,16', cport: '@th,240,16', proto: '@th,136,8' },
  6: { vip: '@th,128,128', client: '@th,256,128', vport: '@th,384,16', cport: '@th,400,16', proto: '@th,112,8' },
};
const PROTOCOL_NUMBERS = { tcp: 6, udp: 17 } as const;

/** An address as the integer a raw payload expression reads (nft types raw payload as integers). */
export function addressInteger(address: string): string {
  if (ipFamily(address) === 4) return `0x${address.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('')}`;
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `0x${groups.map((g) => g.padStart(4, '0')).join('')}`;
}

/** A service's entries for steering ICMP errors: (VIP, protocol, port) -> service, service -> its class's ICMP chain. */
function addIcmpElements(
  elements: Map<string, Map<string, string | null>>,
  a: { svc: string; vip: string; family: 4 | 6; protocol: 'tcp' | 'udp'; portKey: string; ifname: string; m: number; flows: FlowSettings },
) {
  addElement(elements, `icmp_dispatch${a.family}_${a.ifname}`, `${addressInteger(a.vip)} . ${PROTOCOL_NUMBERS[a.protocol]} . ${a.portKey}`, a.svc);
  addElement(elements, 'icmp_classes', a.svc, `goto ${icmpClassChain(a.ifname, a.flows, a.m)[0]}`);
}

/** Flow table first (the backend the flow is pinned to), else the Maglev slot of the quoted client address and port. */
function icmpClassChain(ifname: string, f: FlowSettings, m: number): [string, NftChain] {
  const keys = flowKeys(QUOTED_FIELDS[f.family]);
  const out = `icmp_out_${ifname}`;
  return [
    // The flow table is the class's (by protocol and size), named in f.name.
    `i_${ifname}_${f.name}_m${m}`,
    {
      rules: [
        `meta mark set ${keys.pin} map @${f.map} meta mark @takes_traffic goto ${out}`,
        `meta mark set meta mark and ${hex(SERVICE_MASK)}`,
        `meta mark set meta mark . jhash ${keys.hash} mod ${m} seed ${hex(HASH_SEED)} map @lut meta mark set meta mark and ${hex(~MARK_NEW_FLOW)} goto ${out}`,
        'drop',
      ],
    },
  ];
}

/** Per ingress interface: the rules that catch ICMP errors, the dispatch maps of quoted packets, the output chain. */
function icmpInterface(ifname: string, mac: string): { rules: string[]; sets: [string, NftSet][]; chains: [string, NftChain][] } {
  const q4 = QUOTED_FIELDS[4];
  const q6 = QUOTED_FIELDS[6];
  return {
    rules: [
      // Quoted IPv4 header without options (0x45), first fragment (offset 0).
      `icmp type { destination-unreachable, source-quench, time-exceeded, parameter-problem } @th,64,8 0x45 @th,115,13 0 meta mark set ${q4.vip} . ${q4.proto} . ${q4.vport} map @icmp_dispatch4_${ifname} meta mark vmap @icmp_classes`,
      `icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem } @th,64,4 6 meta mark set ${q6.vip} . ${q6.proto} . ${q6.vport} map @icmp_dispatch6_${ifname} meta mark vmap @icmp_classes`,
    ],
    sets: [
      [`icmp_dispatch4_${ifname}`, { decl: `typeof ${q4.vip} . ${q4.proto} . ${q4.vport} : meta mark; flags interval;` }],
      [`icmp_dispatch6_${ifname}`, { decl: `typeof ${q6.vip} . ${q6.proto} . ${q6.vport} : meta mark; flags interval;` }],
    ],
    chains: [
      [
        `icmp_out_${ifname}`,
        {
          rules: [
            // L3 backends: into the tunnel; L2 backends: out of the interface it came in on.
            'meta mark set meta mark map @tunnels accept',
            `ether saddr set ${checkMac(mac)} ether daddr set meta mark map @macs fwd to "${ifname}"`,
            'drop',
          ],
        },
      ],
    ],
  };
}

// ---------------------------------------------------------------------------
// L3 VIPs are routed to the balancer but are not its addresses: a packet for
// one that no service steers (a ping, another port, a later fragment, an ICMP
// error about no known flow) would be routed back towards the router, which
// sends it here again until its TTL runs out. Pings are answered (redirected to
// the balancer itself; conntrack puts the VIP back as the reply's source), the
// rest is dropped before routing. A VIP that is also a local address of the
// balancer is left to the local stack.

function l3VipGuard(inet: NftTable, vips: string[]) {
  const elements = new Map<string, Map<string, string | null>>();
  for (const v of vips) addElement(elements, `l3_vips${ipFamily(v)}`, v, null);
  inet.fragments.set('l3 vips', fragmentOf(elements));
  inet.sets.set('l3_vips4', { decl: 'type ipv4_addr;' });
  inet.sets.set('l3_vips6', { decl: 'type ipv6_addr;' });
  inet.chains.set('l3_vip_guard', {
    hook: 'type filter hook prerouting priority raw; policy accept;',
    rules: [
      `meta mark & ${hex(TUNNEL_MARK_MASK)} == ${hex(TUNNEL_MARK_BASE)} accept`,
      'ip daddr @l3_vips4 icmp type echo-request accept',
      'ip6 daddr @l3_vips6 icmpv6 type echo-request accept',
      'ip daddr @l3_vips4 fib daddr type != local drop',
      'ip6 daddr @l3_vips6 fib daddr type != local drop',
    ],
  });
  inet.chains.set('l3_vip_echo', {
    hook: 'type nat hook prerouting priority dstnat; policy accept;',
    rules: ['ip daddr @l3_vips4 icmp type echo-request redirect', 'ip6 daddr @l3_vips6 icmpv6 type echo-request redirect'],
  });
}

/**
 * Tunnelled packets are not tracked, in either direction: the balancer sees one
 * direction of each flow only, and the encapsulated packets it sends (which keep
 * the mark) would fill the conntrack table of a host whose firewall tracks.
 */
function notrackChains(): [string, NftChain][] {
  const rule = `meta mark & ${hex(TUNNEL_MARK_MASK)} == ${hex(TUNNEL_MARK_BASE)} notrack`;
  return [
    ['l3_notrack', { hook: 'type filter hook prerouting priority raw; policy accept;', rules: [rule] }],
    ['l3_notrack_out', { hook: 'type filter hook output priority raw; policy accept;', rules: [rule] }],
  ];
}

// ---------------------------------------------------------------------------
// Backend hosts and their tunnels.

/** Bytes a tunnel adds in front of the inner IP packet (IPv4 underlay). */
export const TUNNEL_OVERHEAD: Record<TunnelType, number> = {
  // Outer IPv4 header only.
  ipip: 20,
  // Outer IPv4 + the 4-byte GRE header (Tula's routes set no key, checksum or sequence).
  gre: 24,
  // Outer IPv4 + UDP + VXLAN header + the inner Ethernet header.
  vxlan: 50,
};
/** The underlay MTU the default MSS assumes (Ethernet). */
export const UNDERLAY_MTU = 1500;

/**
 * The MSS a backend announces for a tunnelled VIP when the document sets none:
 * the largest segment a client can send that still fits the underlay once the
 * balancer has encapsulated it (inner IP and TCP headers without options).
 */
export function tunnelMss(tunnel: TunnelType, family: 4 | 6): number {
  return UNDERLAY_MTU - TUNNEL_OVERHEAD[tunnel] - (family === 4 ? 20 : 40) - 20;
}

/**
 * A backend decapsulates what arrives for Tula's tunnel devices only from the
 * balancers its document lists: anyone else could otherwise inject packets
 * that look as if they came from any client. The devices are external
 * (collect-metadata), so they would take every such packet the host receives.
 */
function tunnelPeers(inet: NftTable, vips: { mode: string; balancers: string[] }[], tunnels: TunnelType[], warnings: string[]) {
  const elements = new Map<string, Map<string, string | null>>();
  for (const v of vips) {
    if (v.mode !== 'l3') continue;
    for (const b of v.balancers) addElement(elements, `tunnel_peers${ipFamily(b)}`, canonicalIp(b), null);
  }
  if (elements.size === 0) warnings.push('no balancers are listed for the tunnelled VIPs: every encapsulated packet is dropped');
  inet.fragments.set('tunnel peers', fragmentOf(elements));
  inet.sets.set('tunnel_peers4', { decl: 'type ipv4_addr;' });
  inet.sets.set('tunnel_peers6', { decl: 'type ipv6_addr;' });
  const encapsulated: Record<TunnelType, string> = {
    // Tula's port and VNI (at bit 96 of the UDP payload: after the UDP header and the VXLAN flags).
    vxlan: `udp dport ${VXLAN.port} @th,96,24 ${VXLAN.vni}`,
    ipip: 'meta l4proto ipip',
    gre: 'meta l4proto gre',
  };
  inet.chains.set('tunnel_in', {
    hook: 'type filter hook prerouting priority raw; policy accept;',
    rules: tunnels.flatMap((t) => [
      `meta nfproto ipv4 ${encapsulated[t]} ip saddr != @tunnel_peers4 drop`,
      // An external VXLAN device listens on IPv6 too; ipip and gre ones take IPv4 only.
      ...(t === 'vxlan' ? [`meta nfproto ipv6 ${encapsulated[t]} ip6 saddr != @tunnel_peers6 drop`] : []),
    ]),
  });
}
