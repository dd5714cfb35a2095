// Database rows -> the v1 desired-state document of each node. Pure: the same
// rows always give the same documents, and a node's document changes only when
// something that node carries changes.
import { createHash } from 'node:crypto';
import { canonicalIp, parseDesiredState, type DesiredState } from '@tula/protocol';
import type { ServiceColumns, StoredBackend } from '@tula/validators';
import { mapPeerPasswords, SEALED_PASSWORD_STANDIN, storedPeerPasswords } from './peer-passwords.ts';

export interface NodeRow {
  id: string;
  role: 'balancer' | 'backend' | 'both';
  addresses: string[];
  /** The node's announcement settings (protocol Announcement, validated when saved); null or absent: none. */
  announce?: unknown;
  /** Set while the node is drained from the panel: it withdraws every announcement. */
  drainingSince?: Date | null;
}

export type BackendRow = StoredBackend;

/** A node's compiled document did not validate; `problems` name the fields ($.balancer.announce.vrrp.interface). */
export class CompileError extends Error {
  constructor(
    readonly nodeId: string,
    readonly problems: { path: string; message: string }[],
  ) {
    super(`compiled an invalid document for node ${nodeId}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
}

export interface ServiceRow extends ServiceColumns {
  backends: BackendRow[];
  /** Ids of the balancer nodes that carry it. */
  balancerNodeIds: string[];
}

export interface CompiledDocument {
  /** The document without its version (the caller assigns one when the hash changes). */
  state: Omit<DesiredState, 'version'>;
  hash: string;
}

function healthCheck(s: ServiceRow): unknown {
  const timing = {
    intervalMs: s.hcIntervalMs,
    timeoutMs: s.hcTimeoutMs,
    rise: s.hcRise,
    fall: s.hcFall,
    ...(s.hcPort ? { port: s.hcPort } : {}),
  };
  switch (s.hcType) {
    case 'none':
      return undefined;
    case 'tcp':
      return { type: 'tcp', ...timing };
    case 'http':
    case 'https':
      return { type: s.hcType, ...timing, path: s.hcPath ?? '/', expectStatus: s.hcExpectStatus ?? 200 };
    case 'udp':
      return { type: 'udp', ...timing, payload: s.hcPayload ?? '', ...(s.hcExpect ? { expect: s.hcExpect } : {}) };
  }
}

function serviceDoc(s: ServiceRow): unknown {
  const hc = healthCheck(s);
  return {
    name: s.name,
    vip: s.vip,
    ...(s.portStart === s.portEnd ? { port: s.portStart } : { ports: `${s.portStart}-${s.portEnd}` }),
    protocol: s.protocol,
    mode: s.mode,
    ...(s.mode === 'l3' ? { tunnel: s.tunnel } : {}),
    ...(s.ingressInterface ? { interface: s.ingressInterface } : {}),
    drainTimeoutS: s.drainTimeoutS,
    ...(hc ? { healthCheck: hc } : {}),
    backends: [...s.backends]
      .sort((a, b) => (a.address < b.address ? -1 : 1))
      .map((b) => ({ address: b.address, ...(s.mode === 'nat' && b.port ? { port: b.port } : {}), weight: b.weight, state: b.state })),
  };
}

/** JSON with object keys sorted: the basis of the content hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function documentHash(state: Omit<DesiredState, 'version'>): string {
  return createHash('sha256').update(canonicalJson(state)).digest('hex');
}

/**
 * A node whose row changed in what documents are compiled from: it is new (its
 * first document), or it reported other addresses. `addresses`: every address it
 * had before and has now.
 */
export interface NodeChange {
  nodeId: string;
  addresses: string[];
}

/**
 * The nodes whose documents `changes` can have changed, given the rows after
 * them; undefined when that may be any node (compile them all). A node's
 * document depends on its own row, the services, the addresses of the balancers
 * of the services it serves, and which node each backend address resolves to.
 * So a changed node touches only its own document unless it balances a service
 * (its addresses are in that service's backends' documents) or one of its
 * addresses, old or new, is also reported by another node (the address may
 * resolve to, or away from, that one). A fleet of agents connecting for the
 * first time is then one small compile per batch instead of the whole
 * organisation's per batch.
 */
export function nodesAffected(nodes: NodeRow[], services: ServiceRow[], changes: NodeChange[]): Set<string> | undefined {
  const changed = new Set(changes.map((c) => c.nodeId));
  for (const s of services) for (const id of s.balancerNodeIds) if (changed.has(id)) return undefined;
  const theirs = new Set(changes.flatMap((c) => c.addresses.map(canonicalIp)));
  for (const n of nodes) {
    if (changed.has(n.id)) continue;
    for (const a of n.addresses) if (theirs.has(canonicalIp(a))) return undefined;
  }
  return changed;
}

/**
 * One document per node (with `only`, per node of it). A node gets the balancer section when its role allows
 * balancing (the services it carries), and the backend section when its role
 * allows serving (the VIPs of DSR services whose backends are this node, linked
 * explicitly or by one of its reported addresses).
 */
export function compileNodes(nodes: NodeRow[], services: ServiceRow[], only?: ReadonlySet<string>): Map<string, CompiledDocument> {
  const byAddress = new Map<string, string>();
  for (const n of nodes) for (const a of n.addresses) byAddress.set(canonicalIp(a), n.id);
  // Every address of a balancer: backends accept encapsulated packets only from these, whichever the balancer sends from.
  const nodeAddresses = new Map(nodes.map((n) => [n.id, n.addresses.map(canonicalIp)]));
  const out = new Map<string, CompiledDocument>();

  // Which DSR services each node serves as a backend, in one pass over the backends.
  const servedBy = new Map<string, ServiceRow[]>();
  for (const s of services) {
    if (s.mode === 'nat') continue;
    const nodesOfService = new Set<string>();
    for (const b of s.backends) {
      const id = b.nodeId ?? byAddress.get(canonicalIp(b.address));
      if (id) nodesOfService.add(id);
    }
    for (const id of nodesOfService) {
      let list = servedBy.get(id);
      if (!list) servedBy.set(id, (list = []));
      list.push(s);
    }
  }
  const byBalancer = new Map<string, ServiceRow[]>();
  for (const s of [...services].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const id of s.balancerNodeIds) {
      let list = byBalancer.get(id);
      if (!list) byBalancer.set(id, (list = []));
      list.push(s);
    }
  }

  for (const node of nodes) {
    // Every node's addresses are read above (who serves what, balancers' addresses); only these get a document.
    if (only && !only.has(node.id)) continue;
    const doc: Record<string, unknown> = { apiVersion: 'tula/v1', version: 0 };
    if (node.role !== 'backend') {
      doc.balancer = {
        services: (byBalancer.get(node.id) ?? []).map(serviceDoc),
        // Sealed peer passwords stand in as a valid key while the document is checked, then go back in sealed.
        ...(node.announce ? { announce: mapPeerPasswords(node.announce, () => SEALED_PASSWORD_STANDIN) } : {}),
        ...(node.drainingSince ? { draining: true } : {}),
      };
    }
    if (node.role !== 'balancer') {
      const vips = new Map<string, { vip: string; mode: 'l2' | 'l3'; tunnel?: string; balancers: string[]; mss?: number }>();
      for (const s of servedBy.get(node.id) ?? []) {
        const vip = canonicalIp(s.vip);
        const balancers = s.balancerNodeIds.flatMap((id) => nodeAddresses.get(id) ?? []);
        const existing = vips.get(vip);
        // One VIP, several services: an L3 one decides the tunnel (an L2 one needs nothing more).
        if (!existing || (existing.mode === 'l2' && s.mode === 'l3')) {
          vips.set(vip, {
            vip,
            mode: s.mode as 'l2' | 'l3',
            // Without an MSS of its own, the agent derives one from the tunnel type and the VIP's family.
            ...(s.mode === 'l3' ? { tunnel: s.tunnel, ...(s.mss ? { mss: s.mss } : {}) } : {}),
            balancers: [...new Set([...(existing?.balancers ?? []), ...balancers])].sort(),
          });
        } else {
          existing.balancers = [...new Set([...existing.balancers, ...balancers])].sort();
        }
      }
      doc.backend = { vips: [...vips.values()].sort((a, b) => (a.vip < b.vip ? -1 : 1)) };
    }
    const parsed = parseDesiredState(doc);
    // Services and settings are validated when saved; what only the whole document shows (a VRRP interface
    // the node's L2 services do not use) is refused here, and the change's transaction rolls back.
    if (!parsed.ok) throw new CompileError(node.id, parsed.problems);
    const { version: _, ...checked } = parsed.value;
    const sealed = storedPeerPasswords(node.announce);
    const state =
      checked.balancer?.announce && sealed.some((p) => p !== undefined)
        ? {
            ...checked,
            balancer: { ...checked.balancer, announce: mapPeerPasswords(checked.balancer.announce, (p, i) => sealed[i] ?? p) },
          }
        : checked;
    out.set(node.id, { state, hash: documentHash(state) });
  }
  return out;
}
