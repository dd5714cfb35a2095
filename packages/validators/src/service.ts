// What a person submits for a service: checked as they type in the browser and
// again by the API. The rules the agent applies (packages/protocol) are checked
// here too, so a service that saves always compiles.
import { BalancerService, canonicalIp, IpAddress, ipFamily } from '@tula/protocol';
import { z } from 'zod';

/** A port, with a message that says what is allowed. */
const Port = z.int('port 1-65535').min(1, 'port 1-65535').max(65535, 'port 1-65535');

/** "80" or "8000-8100", each problem said the way a person fixes it. */
const Ports = z.string().superRefine((v, ctx) => {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v);
  if (!m) return void ctx.addIssue({ code: 'custom', message: 'a port (1-65535) or a range like 8000-8100' });
  const [lo, hi] = [Number(m[1]), Number(m[2] ?? m[1])];
  if (lo < 1 || lo > 65535 || hi < 1 || hi > 65535) ctx.addIssue({ code: 'custom', message: 'port 1-65535' });
  else if (lo > hi) ctx.addIssue({ code: 'custom', message: 'first port must not exceed the last' });
});

/** A whole number in [min, max], with a message that says so ("must be from 100 to 3600000 ms"). */
function between(min: number, max: number, unit = '') {
  const range = `from ${min} to ${max}${unit && ` ${unit}`}`;
  return z.int(`must be a whole number ${range}`).min(min, `must be ${range}`).max(max, `must be ${range}`);
}

export const HealthCheckInput = z.strictObject({
  type: z.enum(['none', 'tcp', 'http', 'https', 'udp']),
  port: Port.nullable().default(null),
  path: z.string().max(1024).nullable().default(null),
  expectStatus: between(100, 599).nullable().default(null),
  payload: z.string().max(1024).nullable().default(null),
  expect: z.string().max(1024).nullable().default(null),
  intervalMs: between(100, 3_600_000, 'ms').default(2000),
  timeoutMs: between(50, 60_000, 'ms').default(1000),
  rise: between(1, 100).default(2),
  fall: between(1, 100).default(3),
});

export const BackendInput = z.strictObject({
  address: z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' }),
  port: Port.nullable().default(null),
  weight: between(1, 1000).default(1),
  state: z.enum(['active', 'draining', 'disabled']).default('active'),
  nodeId: z.string().min(1).max(64).nullable().default(null),
});

/** "80" or "8000-8100" as its first and last port. */
function portBounds(ports: string): [number, number] {
  const [lo, hi = lo] = ports.split('-').map(Number) as [number, number?];
  return [lo, hi];
}

/** The health check a service gets when none is given: a TCP connect every 2 s. */
export const DEFAULT_HEALTH_CHECK: z.output<typeof HealthCheckInput> = {
  type: 'tcp',
  port: null,
  path: null,
  expectStatus: null,
  payload: null,
  expect: null,
  intervalMs: 2000,
  timeoutMs: 1000,
  rise: 2,
  fall: 3,
};

export const ServiceInput = z
  .strictObject({
    name: BalancerService.shape.name,
    vip: BalancerService.shape.vip,
    /** "80" or "8000-8100". */
    ports: Ports,
    protocol: z.enum(['tcp', 'udp']),
    mode: z.enum(['l2', 'l3', 'nat']),
    tunnel: z.enum(['ipip', 'gre', 'vxlan']).default('ipip'),
    ingressInterface: BalancerService.shape.interface.nullable().default(null),
    drainTimeoutS: z.int().min(0).max(86_400).default(300),
    mss: z.int().min(536).max(9000).nullable().default(null),
    healthCheck: HealthCheckInput.default(DEFAULT_HEALTH_CHECK),
    balancerNodeIds: z.array(z.string().min(1).max(64)).max(64).default([]),
    backends: z.array(BackendInput).max(8192).default([]),
    /** Saved but carried by no node: may lack balancers and backends. */
    draft: z.boolean().default(false),
  })
  .superRefine(
    (s, ctx) => {
      // Runs even when some fields failed (`when` below), so every problem shows at once:
      // each check looks only at fields that are valid.
      const ip = (a: unknown): a is string => IpAddress.safeParse(a).success;
      const [lo, hi] = typeof s.ports === 'string' ? portBounds(s.ports) : [NaN, NaN];
      if (!s.draft && Array.isArray(s.balancerNodeIds) && s.balancerNodeIds.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['balancerNodeIds'], message: 'choose at least one balancer node, or save it as a draft' });
      }
      if (!s.draft && Array.isArray(s.backends) && s.backends.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['backends'], message: 'add at least one backend, or save it as a draft' });
      }
      if (s.mode === 'l3' && s.tunnel === 'ipip' && ip(s.vip) && ipFamily(s.vip) === 6) {
        ctx.addIssue({ code: 'custom', path: ['tunnel'], message: 'ipip carries IPv4 only; use gre or vxlan for an IPv6 VIP' });
      }
      if (s.healthCheck?.timeoutMs > s.healthCheck?.intervalMs)
        ctx.addIssue({ code: 'custom', path: ['healthCheck', 'timeoutMs'], message: 'must not exceed the interval' });
      const seen = new Set<string>();
      (Array.isArray(s.backends) ? s.backends : []).forEach((b, i) => {
        if (!ip(b?.address)) return;
        const a = canonicalIp(b.address);
        if (seen.has(a)) ctx.addIssue({ code: 'custom', path: ['backends', i, 'address'], message: 'this backend is listed twice' });
        seen.add(a);
        if (s.mode !== 'nat' && typeof b.port === 'number' && !Number.isNaN(lo) && b.port !== lo) {
          ctx.addIssue({
            code: 'custom',
            path: ['backends', i, 'port'],
            message: 'DSR cannot change the port; leave it empty or use NAT mode',
          });
        }
        if (s.mode === 'nat' && b.port !== null && lo !== hi) {
          ctx.addIssue({
            code: 'custom',
            path: ['backends', i, 'port'],
            message: 'a port range keeps each port; leave the backend port empty',
          });
        }
        if (s.mode === 'l3' && ipFamily(b.address) !== 4)
          ctx.addIssue({ code: 'custom', path: ['backends', i, 'address'], message: "L3 tunnels need the backend's IPv4 address" });
        if (s.mode === 'nat' && ip(s.vip) && ipFamily(b.address) !== ipFamily(s.vip))
          ctx.addIssue({ code: 'custom', path: ['backends', i, 'address'], message: "NAT needs a backend of the VIP's address family" });
      });
    },
    { when: () => true },
  );
export type ServiceInput = z.infer<typeof ServiceInput>;

/**
 * The settings a new service starts from in the panel's form, and what tests send for a plain
 * service: L2 TCP on port 80 (VXLAN should it become L3), no interface or MSS pinned, a 300 s
 * drain, not a draft. Not the schema's defaults: those keep ipip for a document that names no tunnel.
 */
export const NEW_SERVICE_SETTINGS: Pick<
  ServiceInput,
  'ports' | 'protocol' | 'mode' | 'tunnel' | 'ingressInterface' | 'drainTimeoutS' | 'mss' | 'draft'
> = {
  ports: '80',
  protocol: 'tcp',
  mode: 'l2',
  tunnel: 'vxlan',
  ingressInterface: null,
  drainTimeoutS: 300,
  mss: null,
  draft: false,
};

/** The columns of a stored service (one row of the Service table). */
export interface ServiceColumns {
  name: string;
  vip: string;
  portStart: number;
  portEnd: number;
  protocol: 'tcp' | 'udp';
  mode: 'l2' | 'l3' | 'nat';
  tunnel: 'ipip' | 'gre' | 'vxlan';
  ingressInterface: string | null;
  drainTimeoutS: number;
  mss: number | null;
  hcType: 'none' | 'tcp' | 'http' | 'https' | 'udp';
  hcPort: number | null;
  hcPath: string | null;
  hcExpectStatus: number | null;
  hcPayload: string | null;
  hcExpect: string | null;
  hcIntervalMs: number;
  hcTimeoutMs: number;
  hcRise: number;
  hcFall: number;
  draft: boolean;
}

export interface StoredBackend {
  address: string;
  port: number | null;
  weight: number;
  state: 'active' | 'draining' | 'disabled';
  nodeId: string | null;
}

/** A stored service with what hangs off it. */
export interface StoredService extends ServiceColumns {
  balancerNodeIds: string[];
  backends: StoredBackend[];
}

/** What the form submitted, as the columns of its row. */
export function serviceColumns(s: ServiceInput): ServiceColumns {
  const [portStart, portEnd] = portBounds(s.ports);
  const { healthCheck: hc } = s;
  return {
    name: s.name,
    vip: canonicalIp(s.vip),
    portStart,
    portEnd,
    protocol: s.protocol,
    mode: s.mode,
    tunnel: s.tunnel,
    ingressInterface: s.ingressInterface,
    drainTimeoutS: s.drainTimeoutS,
    mss: s.mss,
    hcType: hc.type,
    hcPort: hc.port,
    hcPath: hc.path,
    hcExpectStatus: hc.expectStatus,
    hcPayload: hc.payload,
    hcExpect: hc.expect,
    hcIntervalMs: hc.intervalMs,
    hcTimeoutMs: hc.timeoutMs,
    hcRise: hc.rise,
    hcFall: hc.fall,
    draft: s.draft,
  };
}

/** A stored service, as the form edits it (the inverse of serviceColumns). */
export function toServiceInput(s: StoredService): z.input<typeof ServiceInput> {
  return {
    name: s.name,
    vip: s.vip,
    ports: s.portStart === s.portEnd ? String(s.portStart) : `${s.portStart}-${s.portEnd}`,
    protocol: s.protocol,
    mode: s.mode,
    tunnel: s.tunnel,
    ingressInterface: s.ingressInterface,
    drainTimeoutS: s.drainTimeoutS,
    mss: s.mss,
    healthCheck: {
      type: s.hcType,
      port: s.hcPort,
      path: s.hcPath ?? '/',
      expectStatus: s.hcExpectStatus ?? 200,
      payload: s.hcPayload,
      expect: s.hcExpect,
      intervalMs: s.hcIntervalMs,
      timeoutMs: s.hcTimeoutMs,
      rise: s.hcRise,
      fall: s.hcFall,
    },
    balancerNodeIds: s.balancerNodeIds,
    draft: s.draft,
    backends: s.backends.map(({ address, port, weight, state, nodeId }) => ({ address, port, weight, state, nodeId })),
  };
}
