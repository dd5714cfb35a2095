// A service revision's document (the whole service as saved) and the
// field-by-field difference between two of them. Shared by the API (history,
// preview) and the panel (which words the differences).
import { canonicalIp } from '@tula/protocol';
import { z } from 'zod';
import { type ServiceInput, serviceColumns, toServiceInput, type StoredService } from './service.ts';

const nullableInt = z.int().nullable();
const nullableText = z.string().nullable();

/** What a revision stores; reading one back goes through this schema. */
export const ServiceDocument = z.object({
  name: z.string(),
  vip: z.string(),
  portStart: z.int(),
  portEnd: z.int(),
  protocol: z.enum(['tcp', 'udp']),
  mode: z.enum(['l2', 'l3', 'nat']),
  tunnel: z.enum(['ipip', 'gre', 'vxlan']),
  ingressInterface: nullableText,
  drainTimeoutS: z.int(),
  mss: nullableInt,
  hcType: z.enum(['none', 'tcp', 'http', 'https', 'udp']),
  hcPort: nullableInt,
  hcPath: nullableText,
  hcExpectStatus: nullableInt,
  hcPayload: nullableText,
  hcExpect: nullableText,
  hcIntervalMs: z.int(),
  hcTimeoutMs: z.int(),
  hcRise: z.int(),
  hcFall: z.int(),
  /** Older revisions, from before drafts existed, were complete services. */
  draft: z.boolean().default(false),
  /** Sorted. */
  balancerNodeIds: z.array(z.string()),
  /** In address order (code-unit order, as the migration's COLLATE "C"). */
  backends: z.array(
    z.object({
      address: z.string(),
      port: nullableInt,
      weight: z.int(),
      state: z.enum(['active', 'draining', 'disabled']),
      nodeId: nullableText,
    }),
  ),
}) satisfies z.ZodType<StoredService>;
export type ServiceDocument = z.infer<typeof ServiceDocument>;

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A stored service (rows, or a submitted form) in the one shape revisions keep: extra keys dropped, lists sorted. */
export function serviceDocument(s: StoredService): ServiceDocument {
  const d = ServiceDocument.parse(s);
  return {
    ...d,
    balancerNodeIds: [...d.balancerNodeIds].sort(byCodeUnits),
    backends: d.backends
      .map(({ address, port, weight, state, nodeId }) => ({ address, port, weight, state, nodeId }))
      .sort((a, b) => byCodeUnits(a.address, b.address)),
  };
}

/** The document a submitted form would store (addresses canonical, as the rows hold them). */
export function documentFromInput(input: ServiceInput): ServiceDocument {
  return serviceDocument({
    ...serviceColumns(input),
    balancerNodeIds: input.balancerNodeIds,
    backends: input.backends.map((b) => ({ ...b, address: canonicalIp(b.address) })),
  });
}

/** The input that stores exactly this document again (a rollback): the form's, without its defaults for empty health-check fields. */
export function inputFromDocument(d: ServiceDocument): z.input<typeof ServiceInput> {
  const input = toServiceInput(d);
  return { ...input, healthCheck: { ...input.healthCheck!, path: d.hcPath, expectStatus: d.hcExpectStatus } };
}

type Scalar = string | number | boolean | null;
const BACKEND_FIELDS = ['port', 'weight', 'state', 'nodeId'] as const;

export type ServiceChange =
  | { kind: 'created' }
  | { kind: 'deleted' }
  | { kind: 'field'; field: string; before: Scalar; after: Scalar }
  | { kind: 'balancer-added' | 'balancer-removed'; nodeId: string; node?: string }
  | { kind: 'backend-added' | 'backend-removed'; address: string }
  | { kind: 'backend-field'; address: string; field: (typeof BACKEND_FIELDS)[number]; before: Scalar; after: Scalar };

/** Field names as a person reads them; the port pair reads as one "ports" field. */
const LABELS: Record<string, string> = {
  name: 'name',
  vip: 'VIP',
  ports: 'ports',
  protocol: 'protocol',
  mode: 'mode',
  tunnel: 'tunnel',
  ingressInterface: 'ingress interface',
  drainTimeoutS: 'drain timeout (s)',
  mss: 'MSS',
  hcType: 'health check',
  hcPort: 'health check port',
  hcPath: 'health check path',
  hcExpectStatus: 'health check status',
  hcPayload: 'health check payload',
  hcExpect: 'health check expected reply',
  hcIntervalMs: 'health check interval (ms)',
  hcTimeoutMs: 'health check timeout (ms)',
  hcRise: 'health check rise',
  hcFall: 'health check fall',
  draft: 'draft',
};

const ports = (d: ServiceDocument) => (d.portStart === d.portEnd ? String(d.portStart) : `${d.portStart}-${d.portEnd}`);

/** What changed from one document to the next (null: the service did not exist), fields first, then balancers, then backends by address. */
export function diffServices(before: ServiceDocument | null, after: ServiceDocument | null): ServiceChange[] {
  if (!before && !after) return [];
  if (!before) return [{ kind: 'created' }];
  if (!after) return [{ kind: 'deleted' }];
  const out: ServiceChange[] = [];
  for (const field of Object.keys(LABELS)) {
    const b = field === 'ports' ? ports(before) : (before[field as keyof ServiceDocument] as Scalar);
    const a = field === 'ports' ? ports(after) : (after[field as keyof ServiceDocument] as Scalar);
    if (b !== a) out.push({ kind: 'field', field, before: b, after: a });
  }
  const lbBefore = new Set(before.balancerNodeIds);
  const lbAfter = new Set(after.balancerNodeIds);
  for (const nodeId of before.balancerNodeIds) if (!lbAfter.has(nodeId)) out.push({ kind: 'balancer-removed', nodeId });
  for (const nodeId of after.balancerNodeIds) if (!lbBefore.has(nodeId)) out.push({ kind: 'balancer-added', nodeId });
  const was = new Map(before.backends.map((b) => [b.address, b]));
  const now = new Map(after.backends.map((b) => [b.address, b]));
  for (const address of [...new Set([...was.keys(), ...now.keys()])].sort(byCodeUnits)) {
    const b = was.get(address);
    const a = now.get(address);
    if (!b) out.push({ kind: 'backend-added', address });
    else if (!a) out.push({ kind: 'backend-removed', address });
    else
      for (const field of BACKEND_FIELDS)
        if (b[field] !== a[field]) out.push({ kind: 'backend-field', address, field, before: b[field], after: a[field] });
  }
  return out;
}

const show = (v: Scalar) => (v === null || v === '' ? 'none' : String(v));

/** One line per change: "mode l2 → l3", "backend 10.0.0.3 added", "backend 10.0.0.2 weight 1 → 2". */
export function describeChange(c: ServiceChange): string {
  switch (c.kind) {
    case 'created':
      return 'service created';
    case 'deleted':
      return 'service deleted';
    case 'field':
      return `${LABELS[c.field] ?? c.field} ${show(c.before)} → ${show(c.after)}`;
    case 'balancer-added':
    case 'balancer-removed':
      return `balancer ${c.node ?? c.nodeId} ${c.kind === 'balancer-added' ? 'added' : 'removed'}`;
    case 'backend-added':
    case 'backend-removed':
      return `backend ${c.address} ${c.kind === 'backend-added' ? 'added' : 'removed'}`;
    case 'backend-field':
      return `backend ${c.address} ${c.field === 'nodeId' ? 'node' : c.field} ${show(c.before)} → ${show(c.after)}`;
  }
}
