// Which VIPs this balancer should announce right now, and why not the others.
// Pure: the desired state, the model the kernel holds (after the last
// successful apply) and whether that apply failed. A VIP is fit while the kernel
// holds at least one of its services with a usable (healthy, active) backend
// and the balancer is not draining; a failed apply or a stopping agent
// withdraws everything, since the agent can no longer vouch for the kernel.
import { canonicalIp, ipFamily, type DesiredState } from '@tula/protocol';
import type { DataplaneModel } from '@tula/nft';

export type Withdrawn = 'draining' | 'apply failed' | 'agent stopping' | 'no healthy backend' | 'not in the kernel';

export interface VipFitness {
  vip: string;
  family: 4 | 6;
  /** How the VIP is announced: BGP for routed (L3) services, VRRP for L2 and NAT ones. */
  via: 'bgp' | 'vrrp';
  fit: boolean;
  /** Why it is not announced; unset when fit. */
  reason?: Withdrawn;
}

export interface FitnessInput {
  state: DesiredState;
  /** The model the kernel holds; undefined before the first successful apply. */
  model: DataplaneModel | undefined;
  applyFailed: boolean;
  stopping: boolean;
}

/** Every VIP an announcement mechanism covers, in a stable order, with its fitness. */
export function vipFitness({ state, model, applyFailed, stopping }: FitnessInput): VipFitness[] {
  const announce = state.balancer?.announce;
  if (!announce) return [];
  const byVip = new Map<string, { via: 'bgp' | 'vrrp'; services: string[] }>();
  for (const s of state.balancer?.services ?? []) {
    const via = s.mode === 'l3' ? 'bgp' : 'vrrp';
    if (!announce[via]) continue;
    const vip = canonicalIp(s.vip);
    const entry = byVip.get(`${via}|${vip}`) ?? { via, services: [] };
    entry.services.push(s.name);
    byVip.set(`${via}|${vip}`, entry);
  }
  const held = new Set(model?.services.map((s) => s.name) ?? []);
  const usable = new Set(model?.backends.filter((b) => b.condition === 'usable').map((b) => b.service) ?? []);
  const out: VipFitness[] = [];
  for (const [key, { via, services }] of byVip) {
    const vip = key.slice(via.length + 1);
    const base = { vip, family: ipFamily(vip), via };
    const reason: Withdrawn | undefined = stopping
      ? 'agent stopping'
      : applyFailed
        ? 'apply failed'
        : state.balancer?.draining
          ? 'draining'
          : !services.some((s) => held.has(s))
            ? 'not in the kernel'
            : !services.some((s) => usable.has(s))
              ? 'no healthy backend'
              : undefined;
    out.push(reason ? { ...base, fit: false, reason } : { ...base, fit: true });
  }
  return out.sort((a, b) => a.family - b.family || (a.vip < b.vip ? -1 : a.vip > b.vip ? 1 : 0) || a.via.localeCompare(b.via));
}
