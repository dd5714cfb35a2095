// Each backend's health now, per balancer that checks it, and the service's
// roll-up, from the agents' last status reports (gateway: 'status' messages).
import { isOnline } from '@tula/control';
import { backendKey, FailingBackend } from '@tula/protocol';
import { z } from 'zod';
import { agentWarning } from '../nodes/list.ts';

export interface BalancerNode {
  id: string;
  name: string;
  connected: boolean;
  lastSeenAt: Date | null;
  revokedAt: Date | null;
  desiredHash: string | null;
  appliedHash: string | null;
  statusAt: Date | null;
  failingBackends: unknown;
  warnings: string[];
}

/**
 * One balancer's view of one backend. `unknown`: the balancer is offline or has
 * not reported since it got the service; `unchecked`: the service has no health check.
 */
export type CheckState = 'healthy' | 'failing' | 'unchecked' | 'unknown';
export interface BackendCheck {
  nodeId: string;
  node: string;
  state: CheckState;
  /** When it started failing. */
  since: Date | null;
  error: string | null;
  /**
   * For `unknown`: what this balancer last reported before it went offline or
   * stopped reporting, and when; stale, so it never counts towards the roll-up.
   */
  lastKnown: { state: 'healthy' | 'failing' | 'unchecked'; at: Date; online: boolean } | null;
  /**
   * For `unknown` on a balancer online now: it has not applied the document that carries the service as it is
   * (a change on its way, or one it refused), so it reports, but not on this version.
   */
  notApplied?: true;
}

/** `partial`: failing on some balancers only. */
export type BackendHealthState = 'healthy' | 'failing' | 'partial' | 'unchecked' | 'unknown' | 'disabled';
/** `draft`: saved to finish later, carried by no node. `incomplete`: no balancer or no backend, so nothing is served. */
export type ServiceHealthState = 'healthy' | 'degraded' | 'down' | 'unknown' | 'incomplete' | 'draft';

const Failing = z.array(FailingBackend).catch([]);

function failingOf(n: BalancerNode): Map<string, z.infer<typeof FailingBackend>> {
  return new Map(Failing.parse(n.failingBackends).map((f) => [`${f.service}|${f.address}`, f]));
}

export function serviceHealth(
  s: { name: string; hcType: string; draft: boolean; backends: { address: string; state: string }[] },
  balancers: BalancerNode[],
  now = Date.now(),
) {
  const views = balancers.map((n) => ({
    n,
    // A balancer that is offline, has not applied its document, or has not reported since, cannot vouch for anything.
    known: isOnline(n, now) && n.statusAt !== null && n.desiredHash !== null && n.appliedHash === n.desiredHash,
    failing: failingOf(n),
  }));
  const backends = s.backends.map((b) => {
    const checks: BackendCheck[] = views.map(({ n, known, failing }) => {
      const f = failing.get(backendKey(s.name, b.address));
      const base = { nodeId: n.id, node: n.name, since: null, error: null, lastKnown: null };
      if (!known)
        return {
          ...base,
          state: 'unknown',
          ...(isOnline(n, now) && n.desiredHash !== null && n.appliedHash !== n.desiredHash && { notApplied: true as const }),
          lastKnown:
            n.statusAt === null
              ? null
              : {
                  state: f ? 'failing' : s.hcType === 'none' ? 'unchecked' : 'healthy',
                  at: n.statusAt,
                  online: isOnline(n, now),
                },
        };
      if (f) return { ...base, state: 'failing', since: new Date(f.since), error: f.error };
      return { ...base, state: s.hcType === 'none' ? 'unchecked' : 'healthy' };
    });
    const failingOn = checks.filter((c) => c.state === 'failing').length;
    const state: BackendHealthState =
      b.state === 'disabled'
        ? 'disabled'
        : failingOn > 0
          ? failingOn === checks.length
            ? 'failing'
            : 'partial'
          : checks.some((c) => c.state === 'healthy')
            ? 'healthy'
            : checks.some((c) => c.state === 'unchecked')
              ? 'unchecked'
              : 'unknown';
    return { address: b.address, health: { state, checks } };
  });
  const warningsOf = (n: BalancerNode) =>
    n.warnings
      .map(agentWarning)
      .filter((w) => w.service === s.name)
      .map((w) => ({ nodeId: n.id, node: n.name, message: w.message }));
  // An offline balancer's warnings are from its last report: what was wrong then, not now. They are shown as
  // such and never make the service degraded (its health there is unknown, like its checks).
  const warnings = views.filter(({ n }) => isOnline(n, now)).flatMap(({ n }) => warningsOf(n));
  const staleWarnings = views
    .filter(({ n }) => !isOnline(n, now))
    .flatMap(({ n }) => warningsOf(n).map((w) => ({ ...w, reportedAt: n.statusAt, lastSeenAt: n.lastSeenAt })));
  const serving = backends.filter((b) => b.health.state !== 'disabled');
  const state: ServiceHealthState = s.draft
    ? 'draft'
    : balancers.length === 0 || s.backends.length === 0
      ? 'incomplete'
      : serving.every((b) => b.health.state === 'failing')
        ? 'down'
        : serving.some((b) => b.health.state === 'failing' || b.health.state === 'partial') || warnings.length > 0
          ? 'degraded'
          : serving.length > 0 && serving.every((b) => b.health.state === 'unknown')
            ? 'unknown'
            : 'healthy';
  const failing = serving.filter((b) => b.health.state === 'failing' || b.health.state === 'partial').length;
  /** Balancers whose report is current; 0 with balancers present: nobody vouches for this service now. */
  const reporting = views.filter((v) => v.known).length;
  /** No serving backend is health-checked: "healthy" then means only that nothing reports a problem. */
  const unchecked = serving.length > 0 && serving.every((b) => b.health.state === 'unchecked');
  return { state, failing, serving: serving.length, balancers: balancers.length, reporting, unchecked, warnings, staleWarnings, backends };
}
