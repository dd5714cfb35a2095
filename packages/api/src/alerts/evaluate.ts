// Alert evaluation: what each enabled rule watches, read from what the panel
// already records (the agents' status reports, presence, NACKs, drift, rollouts,
// the trial), compared with the last condition stored per subject (AlertState).
// A change of condition is a transition and raises one alert, queued for every
// webhook and, when the rule says so, mailed to the owners and admins.
//
// Exactly once across replicas: each organisation is evaluated in one
// transaction under its own advisory lock (try: a replica finding it held skips
// it until the next tick), and the stored conditions are read inside it, so a
// transition is seen by one replica once.
//
// A firing condition whose subject is gone (a backend removed or disabled, a
// service deleted, a node revoked) or that no enabled rule watches any more will never
// see its recovery: the evaluator ends it with an `ended` alert saying why, and
// forgets the stored condition (a rule turned on again starts afresh).
import { isOnline } from '@tula/control';
import type { AlertRule, Database, Prisma, Rollout } from '@tula/db';
import type { Tx } from '../change.ts';
import { servicesHealthIn } from '../routers/services/list.ts';
import { alertPayload } from './payload.ts';

type AlertKind = 'backend_down' | 'service_down' | 'node_offline' | 'nack' | 'drift' | 'rollout_rolled_back' | 'trial_ending';

/** A condition now. `initial`: what to do when the subject has no stored condition yet (fire, or just remember). */
interface Condition {
  key: string;
  value: string;
  kind: AlertKind;
  ruleIds: string[];
  email: boolean;
  /** An alert for this transition, or null to store the condition silently (e.g. recovered from an unrecorded state). */
  alert: (
    previous: string | undefined,
  ) => { state: 'firing' | 'resolved'; title: string; detail: string; data: Record<string, unknown> } | null;
}

const lockKey = (organizationId: string) => `alerts:${organizationId}`;

/** Stored conditions that have a firing alert (a backend, service or node down, a NACK); the others are healthy or events. */
const FIRING_VALUES = { OR: [{ value: 'down' }, { value: { startsWith: 'nack:' } }] };
const isFiringValue = (value: string) => value === 'down' || value.startsWith('nack:');

const NODE_SELECT = {
  id: true,
  organizationId: true,
  name: true,
  connected: true,
  lastSeenAt: true,
  revokedAt: true,
  lastError: true,
  lastDriftAt: true,
  lastDrift: true,
} as const;

/** What an organisation's enabled rules are evaluated on, and the conditions stored for it. */
interface AlertInputs {
  rules: AlertRule[];
  services: Awaited<ReturnType<typeof servicesHealthIn>>;
  nodes: Prisma.NodeGetPayload<{ select: typeof NODE_SELECT }>[];
  /** Rolled back since the organisation's oldest rollout rule last changed. */
  rolledBack: Rollout[];
  serviceNames: Map<string, string>;
  trialEndsAt: Date | null;
  /** The stored condition of each subject, by key. */
  stored: Map<string, string>;
}

/** Organisations per read: a tick reads every organisation with a rule in reads of this many. */
const ORGANIZATIONS_PER_READ = 200;

/** Rows by their organisation, grouped once (not filtered again for each organisation). */
function byOrganization<T extends { organizationId: string }>(rows: T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) {
    const list = out.get(row.organizationId);
    if (list) list.push(row);
    else out.set(row.organizationId, [row]);
  }
  return out;
}

/**
 * The inputs of several organisations' rules and their stored conditions, read for all of them at once:
 * eight reads a tick whatever the number of organisations (read per organisation, an idle panel with 45 of
 * them ran 87 queries a second). Only what some organisation's rules need is read.
 */
async function alertInputs(db: Tx, organizationIds: string[]): Promise<Map<string, AlertInputs>> {
  const out = new Map<string, AlertInputs>();
  for (let i = 0; i < organizationIds.length; i += ORGANIZATIONS_PER_READ) {
    const ids = organizationIds.slice(i, i + ORGANIZATIONS_PER_READ);
    const rules = await db.alertRule.findMany({ where: { organizationId: { in: ids }, enabled: true } });
    const needing = (...kinds: string[]) => [...new Set(rules.filter((r) => kinds.includes(r.kind)).map((r) => r.organizationId))];
    const serviceOrgs = needing('backend_down', 'service_down');
    const nodeOrgs = needing('node_offline', 'nack', 'drift');
    const rollbackRules = rules.filter((r) => r.kind === 'rollout_rolled_back');
    const trialOrgs = needing('trial_ending');
    const [services, nodes, rolledBack, trials, states] = await Promise.all([
      serviceOrgs.length ? servicesHealthIn({ db: { prisma: db } }, serviceOrgs) : [],
      nodeOrgs.length ? db.node.findMany({ where: { organizationId: { in: nodeOrgs }, revokedAt: null }, select: NODE_SELECT }) : [],
      rollbackRules.length
        ? db.rollout.findMany({
            where: {
              organizationId: { in: [...new Set(rollbackRules.map((r) => r.organizationId))] },
              status: 'rolled_back',
              updatedAt: { gte: new Date(Math.min(...rollbackRules.map((r) => r.updatedAt.getTime()))) },
            },
          })
        : [],
      trialOrgs.length ? db.organization.findMany({ where: { id: { in: trialOrgs } }, select: { id: true, trialEndsAt: true } }) : [],
      db.alertState.findMany({ where: { organizationId: { in: ids } }, select: { organizationId: true, key: true, value: true } }),
    ]);
    const serviceNames = new Map(
      rolledBack.length
        ? (
            await db.service.findMany({
              where: { organizationId: { in: ids }, id: { in: rolledBack.map((r) => r.serviceId) } },
              select: { id: true, name: true },
            })
          ).map((x) => [x.id, x.name] as const)
        : [],
    );
    const trialEnds = new Map(trials.map((o) => [o.id, o.trialEndsAt]));
    const rulesOf = byOrganization(rules);
    const servicesOf = byOrganization(services);
    const nodesOf = byOrganization(nodes);
    const rolledBackOf = byOrganization(rolledBack);
    const statesOf = byOrganization(states);
    for (const organizationId of ids) {
      const own = rulesOf.get(organizationId) ?? [];
      // Rolled back since this organisation's own oldest rollout rule changed (the read above took the oldest of all).
      const since = Math.min(...own.filter((r) => r.kind === 'rollout_rolled_back').map((r) => r.updatedAt.getTime()));
      out.set(organizationId, {
        rules: own,
        services: servicesOf.get(organizationId) ?? [],
        nodes: nodesOf.get(organizationId) ?? [],
        rolledBack: (rolledBackOf.get(organizationId) ?? []).filter((r) => r.updatedAt.getTime() >= since),
        serviceNames,
        trialEndsAt: trialEnds.get(organizationId) ?? null,
        stored: new Map((statesOf.get(organizationId) ?? []).map((st) => [st.key, st.value])),
      });
    }
  }
  return out;
}

/**
 * The conditions the organisation's enabled rules watch now, and `watched`: every
 * subject that exists and an enabled rule watches, its condition known now or not
 * (a backend behind an offline balancer is unknown, yet still watched).
 */
function conditions(inputs: AlertInputs, now: Date): { current: Condition[]; watched: Set<string> } {
  const { rules } = inputs;
  const out: Condition[] = [];
  const watched = new Set<string>();
  if (rules.length === 0) return { current: out, watched };
  const of = (kind: AlertKind) => rules.filter((r) => r.kind === kind);
  const add = (c: Omit<Condition, 'email'>, matched: typeof rules) => {
    if (matched.length === 0) return;
    out.push({ ...c, ruleIds: matched.map((r) => r.id), email: matched.some((r) => r.email) });
  };

  if (of('backend_down').length || of('service_down').length) {
    for (const s of inputs.services) {
      if (s.draft) continue;
      for (const b of s.backends) {
        const matched = of('backend_down').filter(
          (r) => (r.backendId ? r.backendId === b.id : true) && (r.serviceId ? r.serviceId === s.id : true),
        );
        const st = b.health.state;
        // A disabled backend takes no traffic and counts no checks: nobody watches it until it is enabled again.
        if (matched.length && st !== 'disabled') watched.add(`backend:${b.id}`);
        const value = st === 'failing' || st === 'partial' ? 'down' : st === 'healthy' ? 'up' : null;
        if (!value) continue; // unknown, unchecked or disabled: nothing to say either way
        const failing = b.health.checks.filter((c) => c.state === 'failing');
        add(
          {
            key: `backend:${b.id}`,
            value,
            kind: 'backend_down',
            ruleIds: [],
            alert: (prev) =>
              value === 'down'
                ? {
                    state: 'firing',
                    title: `Backend ${b.address} of ${s.name} is down`,
                    detail: failing.map((c) => `${c.node}: ${c.error ?? 'failing'}`).join('; ') || 'failing its health check',
                    data: { serviceId: s.id, service: s.name, backendId: b.id, backend: b.address, failing },
                  }
                : prev === 'down'
                  ? {
                      state: 'resolved',
                      title: `Backend ${b.address} of ${s.name} recovered`,
                      detail: 'passing its health check on every balancer again',
                      data: { serviceId: s.id, service: s.name, backendId: b.id, backend: b.address },
                    }
                  : null,
          },
          matched,
        );
      }
      const serviceRules = of('service_down').filter((r) => !r.serviceId || r.serviceId === s.id);
      if (serviceRules.length) watched.add(`service:${s.id}`);
      const sv = s.health.state === 'down' ? 'down' : s.health.state === 'healthy' || s.health.state === 'degraded' ? 'up' : null;
      if (!sv) continue;
      add(
        {
          key: `service:${s.id}`,
          value: sv,
          kind: 'service_down',
          ruleIds: [],
          alert: (prev) =>
            sv === 'down'
              ? {
                  state: 'firing',
                  title: `Service ${s.name} is down: every backend is failing`,
                  detail: `${s.health.failing} of ${s.health.serving} backends failing`,
                  data: { serviceId: s.id, service: s.name },
                }
              : prev === 'down'
                ? {
                    state: 'resolved',
                    title: `Service ${s.name} is up again`,
                    detail: s.health.state,
                    data: { serviceId: s.id, service: s.name },
                  }
                : null,
        },
        serviceRules,
      );
    }
  }

  const nodeRules = of('node_offline').length + of('nack').length + of('drift').length;
  if (nodeRules) {
    for (const n of inputs.nodes) {
      for (const r of of('node_offline')) {
        watched.add(`node:${n.id}:offline:${r.id}`);
        const limit = (r.seconds ?? 60) * 1000;
        const online = isOnline(n, now.getTime());
        const offlineFor = n.lastSeenAt ? now.getTime() - n.lastSeenAt.getTime() : null;
        // Between going offline and the limit nothing changes; a node never seen is not "offline".
        const value = online ? 'up' : offlineFor !== null && offlineFor > limit ? 'down' : null;
        if (!value) continue;
        add(
          {
            key: `node:${n.id}:offline:${r.id}`,
            value,
            kind: 'node_offline',
            ruleIds: [],
            alert: (prev) =>
              value === 'down'
                ? {
                    state: 'firing',
                    title: `Node ${n.name} is offline`,
                    detail: `not heard from since ${n.lastSeenAt!.toISOString()} (more than ${limit / 1000} s)`,
                    data: { nodeId: n.id, node: n.name, lastSeenAt: n.lastSeenAt },
                  }
                : prev === 'down'
                  ? {
                      state: 'resolved',
                      title: `Node ${n.name} is online again`,
                      detail: 'its agent reconnected',
                      data: { nodeId: n.id, node: n.name },
                    }
                  : null,
          },
          [r],
        );
      }
      if (of('nack').length) watched.add(`node:${n.id}:nack`);
      add(
        {
          key: `node:${n.id}:nack`,
          value: n.lastError ? `nack:${n.lastError}` : 'ok',
          kind: 'nack',
          ruleIds: [],
          alert: (prev) =>
            n.lastError
              ? {
                  state: 'firing',
                  title: `Node ${n.name} rejected its configuration`,
                  detail: n.lastError,
                  data: { nodeId: n.id, node: n.name, error: n.lastError },
                }
              : prev?.startsWith('nack:')
                ? {
                    state: 'resolved',
                    title: `Node ${n.name} applied its configuration`,
                    detail: 'the last document was accepted',
                    data: { nodeId: n.id, node: n.name },
                  }
                : null,
        },
        of('nack'),
      );
      if (n.lastDriftAt) {
        const driftRules = of('drift');
        const at = n.lastDriftAt;
        add(
          {
            key: `node:${n.id}:drift`,
            value: at.toISOString(),
            kind: 'drift',
            ruleIds: [],
            // A repair from before the rule was (re-)enabled or changed is history, not news.
            alert: () =>
              driftRules.some((r) => r.updatedAt <= at)
                ? {
                    state: 'firing',
                    title: `Drift repaired on ${n.name}`,
                    detail: n.lastDrift.join('; ') || 'the kernel tables differed from the desired state',
                    data: { nodeId: n.id, node: n.name, at, what: n.lastDrift },
                  }
                : null,
          },
          driftRules,
        );
      }
    }
  }

  const rolledBack = of('rollout_rolled_back');
  if (rolledBack.length) {
    for (const ro of inputs.rolledBack) {
      const service = inputs.serviceNames.get(ro.serviceId) ?? ro.serviceId;
      add(
        {
          key: `rollout:${ro.id}`,
          value: 'rolled_back',
          kind: 'rollout_rolled_back',
          ruleIds: [],
          alert: () => ({
            state: 'firing',
            title: `Staged rollout of ${service} rolled back`,
            detail: `revision ${ro.toRevision} stopped, revision ${ro.fromRevision} restored: ${ro.reason ?? 'no reason recorded'}`,
            data: {
              serviceId: ro.serviceId,
              service,
              rolloutId: ro.id,
              toRevision: ro.toRevision,
              fromRevision: ro.fromRevision,
              reason: ro.reason,
            },
          }),
        },
        rolledBack,
      );
    }
  }

  for (const r of of('trial_ending')) {
    const { trialEndsAt } = inputs;
    if (!trialEndsAt) continue; // the organisation went meanwhile
    const left = trialEndsAt.getTime() - now.getTime();
    const value = left <= 0 ? 'ended' : left <= (r.seconds ?? 259_200) * 1000 ? 'ending' : null;
    if (!value) continue;
    add(
      {
        key: `trial:${r.id}`,
        value,
        kind: 'trial_ending',
        ruleIds: [],
        alert: () => ({
          state: 'firing',
          title: value === 'ended' ? 'The free trial has ended' : 'The free trial ends soon',
          detail:
            value === 'ended'
              ? 'The panel is read-only now; balancers keep forwarding with their last state.'
              : `It ends at ${trialEndsAt.toISOString()}; after that the panel turns read-only.`,
          data: { trialEndsAt },
        }),
      },
      [r],
    );
  }
  return { current: out, watched };
}

/** Why a firing alert's subject is no longer watched: its subject went, or no enabled rule covers it. */
async function endReason(tx: Tx, organizationId: string, firing: { kind: AlertKind; key: string; data: unknown }): Promise<string> {
  const data = firing.data as { serviceId?: string; backendId?: string; nodeId?: string };
  const where = { organizationId };
  if (firing.kind === 'backend_down' || firing.kind === 'service_down') {
    const service = await tx.service.findFirst({ where: { ...where, id: data.serviceId ?? '' }, select: { draft: true } });
    if (!service) return 'service deleted';
    const backend =
      firing.kind === 'backend_down' &&
      (await tx.backend.findFirst({ where: { ...where, id: data.backendId ?? '' }, select: { state: true } }));
    if (backend === null) return 'backend removed';
    if (service.draft) return 'service made a draft';
    if (backend && backend.state === 'disabled') return 'backend disabled';
  } else {
    const node = await tx.node.findFirst({ where: { ...where, id: data.nodeId ?? '' }, select: { revokedAt: true } });
    if (!node) return 'node deleted';
    if (node.revokedAt) return 'node revoked';
  }
  // The subject is still there: the rules that covered it were turned off, deleted or narrowed.
  const offlineRuleId = firing.kind === 'node_offline' ? firing.key.split(':offline:')[1] : undefined;
  const rules = await tx.alertRule.findMany({
    where: { ...where, kind: firing.kind, ...(offlineRuleId ? { id: offlineRuleId } : {}) },
    select: { enabled: true, serviceId: true, backendId: true },
  });
  const covering = rules.filter(
    (r) => (!r.serviceId || r.serviceId === data.serviceId) && (!r.backendId || r.backendId === data.backendId),
  );
  if (covering.length === 0) return 'rule deleted';
  return covering.every((r) => !r.enabled) ? 'rule turned off' : 'no longer watched';
}

/** What the firing alert was about, from what it recorded when raised. */
function subjectOf(firing: { kind: AlertKind; data: unknown }): string {
  const data = firing.data as { service?: string; backend?: string; node?: string };
  if (firing.kind === 'backend_down') return `Backend ${data.backend} of ${data.service}`;
  if (firing.kind === 'service_down') return `Service ${data.service}`;
  return `Node ${data.node}`;
}

/**
 * The organisations among `organizationIds` where a watched condition differs from the stored one: read
 * for all of them at once and without a transaction, so an idle tick holds no lock or connection long.
 */
async function organizationsWithChanges(db: Database, organizationIds: string[], now: Date): Promise<string[]> {
  const inputs = await alertInputs(db.prisma, organizationIds);
  return organizationIds.filter((id) => {
    const org = inputs.get(id)!;
    const { stored } = org;
    const { current, watched } = conditions(org, now);
    return (
      current.some((c) => stored.get(c.key) !== c.value) || [...stored].some(([key, value]) => isFiringValue(value) && !watched.has(key))
    );
  });
}

/** Evaluates one organisation; returns the alerts raised (none when another replica holds its lock). */
export async function evaluateOrganization(db: Database, organizationId: string, publicUrl: string, now = new Date()) {
  if (!(await organizationsWithChanges(db, [organizationId], now)).length) return [];
  return evaluateChanged(db, organizationId, publicUrl, now);
}

/** Raises the alerts of an organisation where something changed. */
async function evaluateChanged(db: Database, organizationId: string, publicUrl: string, now: Date) {
  // Something changed: decide again under the lock, where only one replica can act on it.
  return db.prisma.$transaction(
    async (tx) => {
      const [lock] = await tx.$queryRaw<
        { locked: boolean }[]
      >`SELECT pg_try_advisory_xact_lock(hashtext(${lockKey(organizationId)})) AS locked`;
      if (!lock?.locked) return [];
      const inputs = (await alertInputs(tx, [organizationId])).get(organizationId)!;
      const { current, watched } = conditions(inputs, now);
      const { stored } = inputs;
      const raised = [];
      let recipients: string[] | undefined;
      let webhooks: { id: string }[] | undefined;
      let orgName: string | undefined;
      /** Queues the alert for every webhook and, when `email`, for the owners and admins. */
      const deliver = async (alert: Parameters<typeof alertPayload>[0], email: boolean) => {
        orgName ??= (await tx.organization.findUniqueOrThrow({ where: { id: organizationId }, select: { name: true } })).name;
        webhooks ??= await tx.webhook.findMany({ where: { organizationId }, select: { id: true } });
        const payload = alertPayload(alert, { id: organizationId, name: orgName }, publicUrl) as object;
        const to: { webhookId?: string; email?: string }[] = webhooks.map((w) => ({ webhookId: w.id }));
        if (email) {
          recipients ??= (
            await tx.membership.findMany({
              where: { organizationId, role: { in: ['owner', 'admin'] } },
              select: { user: { select: { email: true } } },
            })
          ).map((m) => m.user.email);
          to.push(...recipients.map((email) => ({ email })));
        }
        if (to.length)
          await tx.alertDelivery.createMany({
            data: to.map((t) => ({ organizationId, alertId: alert.id, payload, nextAttemptAt: now, ...t })),
          });
      };
      for (const c of current) {
        const previous = stored.get(c.key);
        if (previous === c.value) continue;
        await tx.alertState.upsert({
          where: { organizationId_key: { organizationId, key: c.key } },
          create: { organizationId, key: c.key, value: c.value, changedAt: now },
          update: { value: c.value, changedAt: now },
        });
        const a = c.alert(previous);
        if (!a) continue;
        const alert = await tx.alert.create({
          data: {
            organizationId,
            kind: c.kind,
            key: c.key,
            state: a.state,
            title: a.title,
            detail: a.detail,
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed where the root tsconfig's program (the tests) checks this file: there Prisma's JSON input type does not take a Record<string, unknown>
            data: a.data as object,
            createdAt: now,
          },
        });
        await deliver(alert, c.email);
        raised.push(alert);
      }
      for (const [key, value] of stored) {
        if (!isFiringValue(value) || watched.has(key)) continue;
        await tx.alertState.delete({ where: { organizationId_key: { organizationId, key } } });
        const firing = await tx.alert.findFirst({ where: { organizationId, key }, orderBy: { createdAt: 'desc' } });
        if (firing?.state !== 'firing') continue; // nothing left firing to end
        const reason = await endReason(tx, organizationId, firing);
        const alert = await tx.alert.create({
          data: {
            organizationId,
            kind: firing.kind,
            key,
            state: 'ended',
            title: `${subjectOf(firing)}: alert ended, ${reason}`,
            detail: `firing since ${firing.createdAt.toISOString()}; no recovery can follow it now`,
            data: { ...(firing.data as object), reason, endedAlertId: firing.id },
            createdAt: now,
          },
        });
        // Receivers close the incident as for a recovery; nobody is mailed about a change they made.
        await deliver(alert, false);
        raised.push(alert);
      }
      return raised;
    },
    { timeout: 30_000 },
  );
}

/** Evaluates every organisation that has an enabled rule or a firing condition. */
export async function evaluateAlerts(db: Database, publicUrl: string, now = new Date()) {
  const [withRules, withFiring] = await Promise.all([
    db.prisma.alertRule.findMany({ where: { enabled: true }, distinct: ['organizationId'], select: { organizationId: true } }),
    // An organisation whose last rule was turned off still has firing alerts to end.
    db.prisma.alertState.findMany({ where: FIRING_VALUES, distinct: ['organizationId'], select: { organizationId: true } }),
  ]);
  const orgs = [...new Set([...withRules, ...withFiring].map((o) => o.organizationId))];
  const raised = [];
  const failures: string[] = [];
  for (const organizationId of await organizationsWithChanges(db, orgs, now)) {
    // One organisation failing (a busy database) must not hold back the others.
    try {
      raised.push(...(await evaluateChanged(db, organizationId, publicUrl, now)));
    } catch (err) {
      failures.push(`${organizationId}: ${(err as Error).message}`);
    }
  }
  if (failures.length) throw new Error(`${failures.length} organisation(s) not evaluated (${failures[0]})`);
  return raised;
}
