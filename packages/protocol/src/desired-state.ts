// The desired-state document, version 1: what one host should do. It is a public
// format (users write it by hand for a standalone agent), exported as JSON Schema
// to docs/desired-state.schema.json. Field names may grow; existing ones keep working.
import { z } from 'zod';
import { canonicalIp, ipFamily } from './ip.ts';

export const IpAddress = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });
export const Port = z.int().min(1).max(65535);
/** "8000-8100": an inclusive port range. */
export const PortRange = z
  .string()
  .regex(/^\d{1,5}-\d{1,5}$/, 'must look like "8000-8100"')
  .refine((s) => {
    const [lo, hi] = s.split('-').map(Number) as [number, number];
    return lo >= 1 && hi <= 65535 && lo <= hi;
  }, 'must be two ports from 1 to 65535, the first not above the second');
/** A Linux interface name (IFNAMSIZ is 16 with the terminating NUL). */
export const InterfaceName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/, 'must be a Linux interface name (1-15 letters, digits, _ . -)');
export const ServiceName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . - (starting with a letter or digit)');

export const Protocol = z.enum(['tcp', 'udp']);
export const ServiceMode = z.enum(['l2', 'l3', 'nat']);
export const TunnelType = z.enum(['ipip', 'gre', 'vxlan']);
export const BackendState = z.enum(['active', 'draining', 'disabled']);

const healthTiming = {
  /** Port to check; default: the backend's port where it names one (NAT), else the service port (the first of a range). */
  port: Port.optional(),
  intervalMs: z.int().min(100).max(3_600_000).default(2000),
  timeoutMs: z.int().min(50).max(60_000).default(1000),
  /** Consecutive successes that bring a failed backend back. */
  rise: z.int().min(1).max(100).default(2),
  /** Consecutive failures that take a backend out. */
  fall: z.int().min(1).max(100).default(3),
};
const httpCheck = {
  path: z
    .string()
    .regex(/^\/[\x21-\x7e]*$/, 'must be an absolute path of printable characters')
    .max(1024)
    .default('/'),
  expectStatus: z.int().min(100).max(599).default(200),
};

export const HealthCheck = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('tcp'), ...healthTiming }),
  z.strictObject({ type: z.literal('http'), ...healthTiming, ...httpCheck }),
  z.strictObject({ type: z.literal('https'), ...healthTiming, ...httpCheck }),
  z.strictObject({
    type: z.literal('udp'),
    ...healthTiming,
    payload: z.string().max(1024).default(''),
    /** Text the reply must contain; unset: any reply passes. */
    expect: z.string().max(1024).optional(),
  }),
]);

export const Backend = z.strictObject({
  address: IpAddress,
  /** NAT mode only: the port the backend listens on (default: the packet's port). */
  port: Port.optional(),
  weight: z.int().min(1).max(1000).default(1),
  state: BackendState.default('active'),
  /** L2 only: use this MAC instead of resolving it from the neighbour table. */
  mac: z.mac().optional(),
});

/** Flow-table settings of a service that does not set them. */
export const FLOW_DEFAULTS = { tableSize: 1_048_576, synTimeoutS: 5, closeTimeoutS: 10, timeoutS: { tcp: 900, udp: 300 } } as const;

export const BalancerService = z.strictObject({
  name: ServiceName,
  vip: IpAddress,
  port: Port.optional(),
  ports: PortRange.optional(),
  protocol: Protocol,
  mode: ServiceMode,
  /** L3 only (ignored otherwise): the encapsulation, ipip by default. */
  tunnel: TunnelType.optional(),
  /** Where VIP traffic arrives; default: the interface whose subnet holds the VIP, else the route to it. */
  interface: InterfaceName.optional(),
  scheduler: z.literal('maglev').default('maglev'),
  /** Idle time after which a flow is forgotten; default 900 s for TCP, 300 s for UDP. */
  flowTimeoutS: z.int().min(1).max(86_400).optional(),
  // Optional rather than defaulted, so parsed documents stay as written; the defaults are published in the schema.
  flowTableSize: z.int().min(64).max(16_777_216).optional().meta({
    description:
      "Flows the service's flow table holds (services with equal settings share a table). A full table pins no new flows; they follow the Maglev table and are counted.",
    default: FLOW_DEFAULTS.tableSize,
  }),
  synTimeoutS: z.int().min(1).max(300).optional().meta({
    description: 'TCP: seconds a flow that has sent only a SYN stays pinned, so spoofed SYNs leave the flow table quickly.',
    default: FLOW_DEFAULTS.synTimeoutS,
  }),
  closeTimeoutS: z
    .int()
    .min(1)
    .max(300)
    .optional()
    .meta({ description: 'TCP: seconds a flow stays pinned after a FIN or RST.', default: FLOW_DEFAULTS.closeTimeoutS }),
  /** How long a draining backend keeps its established flows. */
  drainTimeoutS: z.int().min(0).max(86_400).default(300),
  healthCheck: HealthCheck.optional(),
  backends: z.array(Backend).max(8192).default([]),
});

export const BackendVip = z.strictObject({
  vip: IpAddress,
  mode: z.enum(['l2', 'l3']),
  tunnel: TunnelType.optional(),
  /** Balancer underlay addresses that send tunnelled traffic here; encapsulated packets from any other host are dropped. */
  balancers: z.array(IpAddress).max(256).default([]),
  /** TCP MSS clamp for SYN-ACKs from the VIP (tunnelled services); default from the tunnel overhead (docs/dataplane.md). */
  mss: z.int().min(536).max(9000).optional(),
});

/** A 4-byte AS number; 0 and 4294967295 are reserved (RFC 7607, RFC 7300), 23456 stands in for 4-byte ASNs (RFC 6793). */
export const Asn = z
  .int({ error: 'must be an AS number (an integer)' })
  .min(1, 'must be an AS number from 1 to 4294967294')
  .max(4_294_967_294, 'must be an AS number from 1 to 4294967294')
  .refine((n) => n !== 23_456, 'AS 23456 (AS_TRANS) is reserved; use the real 4-byte AS number');

export const BgpPeer = z.strictObject({
  address: IpAddress,
  asn: Asn,
  /** TCP MD5 signature key (RFC 2385); the peer must be configured with the same one. */
  password: z
    .string()
    .regex(/^[\x21\x23-\x5b\x5d-\x7e]{1,80}$/, 'must be 1-80 printable ASCII characters without spaces, quotes or backslashes')
    .optional(),
  /** BGP hold time; the session (and with it every route learned over it) is dropped after this long without a message. */
  holdTimeS: z.int().min(3, 'must be from 3 to 65535 seconds').max(65_535, 'must be from 3 to 65535 seconds').default(90),
  /** Run BFD with this peer, so a dead link is noticed in intervalMs × multiplier rather than the hold time. */
  bfd: z.boolean().default(false),
});

export const BgpAnnouncement = z.strictObject({
  localAsn: Asn,
  routerId: z.ipv4({ error: 'must be an IPv4 address (a BGP router id is 32 bits, written as one)' }),
  peers: z.array(BgpPeer).min(1, 'give at least one peer').max(64),
  /** BFD timers for every peer with bfd on. */
  bfd: z
    .strictObject({
      intervalMs: z.int().min(10).max(10_000).default(100),
      multiplier: z.int().min(2).max(255).default(3),
    })
    .optional(),
});

export const VrrpAnnouncement = z.strictObject({
  /** Interface the VRRP adverts use; the L2 VIPs are taken on it. */
  interface: InterfaceName,
  /** The same on every balancer sharing these VIPs, unique on the segment. */
  virtualRouterId: z.int().min(1, 'must be from 1 to 255').max(255, 'must be from 1 to 255'),
  /** The highest priority wins when balancers start together; 255 is reserved for an address owner. */
  priority: z
    .int({ error: 'must be an integer from 1 to 254' })
    .min(1, 'must be from 1 to 254')
    .max(254, 'must be from 1 to 254 (255 is reserved for the address owner)'),
  /** VRRPv3 advertisement interval; the standby takes over after about 3 intervals of silence. */
  advertIntervalMs: z.int().min(10).max(40_950).multipleOf(10, 'must be a multiple of 10 ms (VRRPv3 counts centiseconds)').default(1000),
});

/** How this balancer tells the network it serves its VIPs. */
export const Announcement = z.strictObject({
  /** Routed networks: announce the VIPs of L3 services as /32 or /128 routes over BGP (bird2 on the host). */
  bgp: BgpAnnouncement.optional(),
  /** Flat L2 networks: one balancer of the group owns the L2 and NAT VIPs at a time (keepalived on the host). */
  vrrp: VrrpAnnouncement.optional(),
});

/** Default bits of the packet mark Tula writes on packets it hands to the host's stack (see MarkMask). */
export const DEFAULT_MARK_MASK = 0x0000_00ff;

/**
 * The bits of the packet mark Tula may write on packets that go on into the
 * host's stack (L3 tunnel routing, NAT); every other bit is left as it is. The
 * default, the low byte, stays clear of kube-proxy (0x4000, 0x8000), Calico
 * (0xffff0000), Cilium's magic and identity bits (0x0f00, 0xffff0000),
 * Tailscale (0x00ff0000), Weave (0x20000) and the CNI portmap plugin (0x2000).
 */
export const MarkMask = z
  .int()
  .min(1)
  .max(0xffff_ffff)
  .refine(
    (m) => popcount(m) >= 2 && popcount(m) <= 16,
    'the mark range needs 2 to 16 bits (one marks tunnelled packets, the rest number them)',
  )
  .meta({
    description:
      'Bits of the packet mark Tula writes on packets it hands to the host stack (L3 tunnels, NAT), as a number; other bits are kept. With n bits, up to 2^(n-1)-1 L3 backend hosts and as many NAT backends per balancer.',
    default: DEFAULT_MARK_MASK,
  });

export function popcount(n: number): number {
  let c = 0;
  for (let v = n >>> 0; v; v &= v - 1) c++;
  return c;
}

const DesiredStateShape = z.strictObject({
  apiVersion: z.literal('tula/v1'),
  version: z.int().min(0),
  balancer: z
    .strictObject({
      services: z.array(BalancerService).max(20_000),
      announce: Announcement.optional(),
      /** Withdraw every announcement (drain this balancer); the rules stay for the flows still arriving. */
      draining: z.boolean().optional(),
      markMask: MarkMask.optional(),
    })
    .optional(),
  backend: z.strictObject({ vips: z.array(BackendVip).max(4096) }).optional(),
});

function portBounds(s: { port?: number | undefined; ports?: string | undefined }): [number, number] {
  if (s.ports) return s.ports.split('-').map(Number) as [number, number];
  return [s.port ?? 0, s.port ?? 0];
}

export const DesiredState = DesiredStateShape.superRefine((doc, ctx) => {
  const services = doc.balancer?.services ?? [];
  const names = new Map<string, number>();
  const listeners: { key: string; lo: number; hi: number; index: number }[] = [];
  services.forEach((s, i) => {
    const at = ['balancer', 'services', i];
    if ((s.port === undefined) === (s.ports === undefined)) {
      ctx.addIssue({ code: 'custom', path: [...at, 'port'], message: 'give exactly one of "port" and "ports"' });
    }
    const first = names.get(s.name);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: [...at, 'name'], message: `duplicate service name "${s.name}" (also services[${first}])` });
    } else names.set(s.name, i);

    const [lo, hi] = portBounds(s);
    const key = `${canonicalIp(s.vip)}/${s.protocol}`;
    for (const other of listeners) {
      if (other.key === key && lo <= other.hi && other.lo <= hi) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, s.ports ? 'ports' : 'port'],
          message: `${s.vip} ${s.protocol} ports ${lo}-${hi} overlap services[${other.index}]`,
        });
      }
    }
    listeners.push({ key, lo, hi, index: i });

    const family = ipFamily(s.vip);
    if (s.mode === 'l3' && (s.tunnel ?? 'ipip') === 'ipip' && family === 6) {
      ctx.addIssue({ code: 'custom', path: [...at, 'tunnel'], message: 'ipip carries IPv4 only; use gre or vxlan for an IPv6 VIP' });
    }
    if (s.healthCheck && s.healthCheck.timeoutMs > s.healthCheck.intervalMs) {
      ctx.addIssue({ code: 'custom', path: [...at, 'healthCheck', 'timeoutMs'], message: 'must not exceed intervalMs' });
    }
    const seen = new Map<string, number>();
    s.backends.forEach((b, j) => {
      const bat = [...at, 'backends', j];
      const canonical = canonicalIp(b.address);
      const dup = seen.get(canonical);
      if (dup !== undefined)
        ctx.addIssue({ code: 'custom', path: [...bat, 'address'], message: `duplicate backend (also backends[${dup}])` });
      else seen.set(canonical, j);
      if (s.mode !== 'nat' && b.port !== undefined && b.port !== lo) {
        ctx.addIssue({
          code: 'custom',
          path: [...bat, 'port'],
          message: 'DSR cannot change the destination port; omit it or use mode "nat"',
        });
      }
      if (s.mode === 'nat' && b.port !== undefined && lo !== hi) {
        ctx.addIssue({ code: 'custom', path: [...bat, 'port'], message: 'a port range keeps each port: omit the backend port' });
      }
      if (s.mode === 'nat' && ipFamily(b.address) !== family) {
        ctx.addIssue({ code: 'custom', path: [...bat, 'address'], message: `NAT needs a backend of the VIP's family (IPv${family})` });
      }
      if (s.mode === 'l3' && ipFamily(b.address) !== 4) {
        ctx.addIssue({
          code: 'custom',
          path: [...bat, 'address'],
          message: "L3 tunnels need the backend's IPv4 address (IPv6 VIPs ride on it)",
        });
      }
      if (b.mac !== undefined && s.mode !== 'l2') {
        ctx.addIssue({ code: 'custom', path: [...bat, 'mac'], message: 'only L2 services forward by MAC' });
      }
    });
  });

  // One balancer reaches a backend host through one tunnel type (one route per host).
  const tunnelOf = new Map<string, { tunnel: string; index: number }>();
  services.forEach((s, i) => {
    if (s.mode !== 'l3') return;
    const tunnel = s.tunnel ?? 'ipip';
    s.backends.forEach((b, j) => {
      const key = canonicalIp(b.address);
      const seen = tunnelOf.get(key);
      if (!seen) tunnelOf.set(key, { tunnel, index: i });
      else if (seen.tunnel !== tunnel) {
        ctx.addIssue({
          code: 'custom',
          path: ['balancer', 'services', i, 'backends', j, 'address'],
          message: `this backend is reached through ${seen.tunnel} by services[${seen.index}]; one tunnel type per backend host`,
        });
      }
    });
  });

  const bgp = doc.balancer?.announce?.bgp;
  const peers = new Map<string, number>();
  bgp?.peers.forEach((p, i) => {
    const at = ['balancer', 'announce', 'bgp', 'peers', i];
    const key = canonicalIp(p.address);
    const dup = peers.get(key);
    if (dup !== undefined) ctx.addIssue({ code: 'custom', path: [...at, 'address'], message: `duplicate peer (also peers[${dup}])` });
    else peers.set(key, i);
    if (key === canonicalIp(bgp.routerId))
      ctx.addIssue({ code: 'custom', path: [...at, 'address'], message: "is this balancer's own router id" });
  });
  const vrrp = doc.balancer?.announce?.vrrp;
  if (vrrp) {
    services.forEach((s, i) => {
      if (s.mode !== 'l3' && s.interface !== undefined && s.interface !== vrrp.interface) {
        ctx.addIssue({
          code: 'custom',
          path: ['balancer', 'services', i, 'interface'],
          message: `VRRP runs on ${vrrp.interface}; an L2 or NAT VIP on another interface would have no owner`,
        });
      }
    });
  }

  const vips = new Map<string, number>();
  (doc.backend?.vips ?? []).forEach((v, i) => {
    const canonical = canonicalIp(v.vip);
    const dup = vips.get(canonical);
    if (dup !== undefined)
      ctx.addIssue({ code: 'custom', path: ['backend', 'vips', i, 'vip'], message: `duplicate VIP (also vips[${dup}])` });
    else vips.set(canonical, i);
    if (v.mode === 'l3' && (v.tunnel ?? 'ipip') === 'ipip' && ipFamily(v.vip) === 6) {
      ctx.addIssue({
        code: 'custom',
        path: ['backend', 'vips', i, 'tunnel'],
        message: 'ipip carries IPv4 only; use gre or vxlan for an IPv6 VIP',
      });
    }
  });
});

export type DesiredState = z.infer<typeof DesiredState>;
export type DesiredStateInput = z.input<typeof DesiredState>;
export type BalancerService = z.infer<typeof BalancerService>;
export type Backend = z.infer<typeof Backend>;
export type BackendVip = z.infer<typeof BackendVip>;
export type HealthCheck = z.infer<typeof HealthCheck>;
export type TunnelType = z.infer<typeof TunnelType>;
export type BgpAnnouncement = z.infer<typeof BgpAnnouncement>;
export type VrrpAnnouncement = z.infer<typeof VrrpAnnouncement>;

/** One validation problem: where (a JSON path such as $.balancer.services[0].vip) and why. */
export interface Problem {
  path: string;
  message: string;
}

export function jsonPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), '$');
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

/** Validates a parsed JSON value; on failure lists every problem. */
export function parseDesiredState(input: unknown): ParseResult<DesiredState> {
  const r = DesiredState.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  return { ok: false, problems: r.error.issues.map((i) => ({ path: jsonPath(i.path), message: i.message })) };
}

/** The service's first and last port. */
export function servicePorts(s: Pick<BalancerService, 'port' | 'ports'>): [number, number] {
  return portBounds(s);
}
