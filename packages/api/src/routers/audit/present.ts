// Audit events as the panel shows them: actors and targets by name with a link
// where the thing still exists, and what changed, line by line (a service
// change's revision diff, or the event's own details).
import { actionLabel, agentActorLabel, describeAuditData, describeChange, diffServices } from '@tula/validators';
import type { Tx } from '../../change.ts';
import { nameBalancers, revisionDocument } from '../../revisions.ts';

interface EventRow {
  id: string;
  actorUserId: string | null;
  actorTokenId: string | null;
  actorLabel: string;
  action: string;
  targetType: string;
  targetId: string | null;
  data: unknown;
  serviceRevision: { number: number; serviceId: string } | null;
}

export interface Named {
  name: string;
  /** A page of the panel showing it; absent once it is gone. */
  href?: string;
}

const ids = (rows: EventRow[], type: string) => [
  ...new Set(rows.flatMap((r) => (r.targetType === type && r.targetId ? [r.targetId] : []))),
];

/**
 * Reads the names behind the ids a page of events mentions, each kind in one query, all within the organisation.
 * `accounts` reads people's names (User rows belong to no organisation, so the tenant role cannot read them).
 */
export async function presentAuditEvents<E extends EventRow>(db: Tx, accounts: Tx, organizationId: string, rows: E[]) {
  const personIds = [
    ...new Set(
      rows
        .flatMap((r) => [
          r.actorUserId,
          typeof (r.data as { userId?: unknown })?.userId === 'string' ? (r.data as { userId: string }).userId : null,
        ])
        .filter((x): x is string => !!x),
    ),
  ];
  const tokenIds = [...new Set([...rows.flatMap((r) => (r.actorTokenId ? [r.actorTokenId] : [])), ...ids(rows, 'api_token')])];
  const [organization, services, nodes, people, memberships, invitations, apiTokens, enrollmentTokens] = await Promise.all([
    db.organization.findUnique({ where: { id: organizationId }, select: { name: true } }),
    db.service.findMany({ where: { organizationId, id: { in: ids(rows, 'service') } }, select: { id: true, name: true } }),
    db.node.findMany({ where: { organizationId, id: { in: ids(rows, 'node') } }, select: { id: true, name: true } }),
    // People by id: only those who are or were in this organisation's events (ids taken from its own rows).
    accounts.user.findMany({ where: { id: { in: personIds } }, select: { id: true, name: true, email: true } }),
    accounts.membership.findMany({
      where: { organizationId, id: { in: ids(rows, 'membership') } },
      select: { id: true, user: { select: { name: true, email: true } } },
    }),
    db.invitation.findMany({ where: { organizationId, id: { in: ids(rows, 'invitation') } }, select: { id: true, email: true } }),
    db.apiToken.findMany({ where: { organizationId, id: { in: tokenIds } }, select: { id: true, name: true, prefix: true } }),
    db.enrollmentToken.findMany({
      where: { organizationId, id: { in: ids(rows, 'enrollment_token') } },
      select: { id: true, prefix: true },
    }),
  ]);
  const by = <T extends { id: string }>(list: T[]) => new Map(list.map((x) => [x.id, x]));
  const service = by(services);
  const node = by(nodes);
  const person = by(people);
  const membership = by(memberships);
  const invitation = by(invitations);
  const apiToken = by(apiTokens);
  const enrollmentToken = by(enrollmentTokens);
  const personName = (p: { name: string; email: string }) => (p.name ? `${p.name} (${p.email})` : p.email);
  const changes = await revisionChanges(db, organizationId, rows);

  const target = (r: E): Named | null => {
    const id = r.targetId;
    const data = (r.data ?? {}) as Record<string, unknown>;
    const stored = typeof data.name === 'string' ? data.name : undefined;
    switch (r.targetType) {
      case 'service': {
        const s = id ? service.get(id) : undefined;
        return s ? { name: s.name, href: `/app/services/${s.id}` } : { name: stored ?? `a deleted service` };
      }
      case 'node': {
        const n = id ? node.get(id) : undefined;
        return n ? { name: n.name, href: `/app/fleet/${n.id}` } : { name: stored ?? 'a deleted node' };
      }
      case 'membership': {
        const m = id ? membership.get(id) : undefined;
        if (m) return { name: personName(m.user), href: '/app/team' };
        const p = typeof data.userId === 'string' ? person.get(data.userId) : undefined;
        return p ? { name: personName(p) } : r.action === 'member.join' ? null : { name: 'a former member' };
      }
      case 'invitation': {
        const i = id ? invitation.get(id) : undefined;
        return i ? { name: i.email, href: '/app/team' } : { name: typeof data.email === 'string' ? data.email : 'an invitation' };
      }
      case 'api_token': {
        const t = id ? apiToken.get(id) : undefined;
        return t ? { name: `"${t.name}" (${t.prefix}…)`, href: '/app/team' } : { name: stored ? `"${stored}"` : 'an API token' };
      }
      case 'enrollment_token': {
        const t = id ? enrollmentToken.get(id) : undefined;
        return t ? { name: `${t.prefix}…`, href: '/app/fleet' } : { name: 'an enrollment token' };
      }
      case 'organization':
        return { name: organization?.name ?? 'the organisation' };
      default:
        return null;
    }
  };

  const actor = (r: E): Named & { kind: 'person' | 'token' | 'agent' | 'system' } => {
    if (r.actorUserId) {
      const p = person.get(r.actorUserId);
      return { kind: 'person', name: p ? personName(p) : r.actorLabel };
    }
    if (r.actorTokenId) {
      const t = apiToken.get(r.actorTokenId);
      return { kind: 'token', name: t ? `API token "${t.name}" (${t.prefix}…)` : r.actorLabel, ...(t && { href: '/app/team' }) };
    }
    if (r.actorLabel === 'agent' || r.actorLabel.startsWith('agent on ')) {
      // An agent acts on its own node: the event's target.
      const n = r.targetType === 'node' && r.targetId ? node.get(r.targetId) : undefined;
      return { kind: 'agent', name: agentActorLabel(r.actorLabel, n?.name), ...(n && { href: `/app/fleet/${n.id}` }) };
    }
    return { kind: 'system', name: r.actorLabel };
  };

  return rows.map((r) => {
    const fromRevision = changes.get(r.id);
    return {
      id: r.id,
      what: actionLabel(r.action),
      actor: actor(r),
      target: target(r),
      // A service change's own diff says what changed; the stored details add what it does not (a staged rollout, a reason).
      changes: [...(fromRevision ?? []), ...describeAuditData(r.action, r.data).filter((l) => !saidBy(l, fromRevision ?? []))],
    };
  });
}

/**
 * Whether a detail line repeats a line of the revision diff: the same line, or
 * the diff's fuller form of it ("backend 10.1.0.1 → draining" is said by
 * "backend 10.1.0.1 state active → draining").
 */
function saidBy(line: string, diff: string[]): boolean {
  const arrow = line.indexOf(' → ');
  return diff.some((c) => c === line || (arrow > 0 && c.startsWith(`${line.slice(0, arrow)} `) && c.endsWith(line.slice(arrow))));
}

/** For events that made a service revision: that revision against the one before, in words ("mode l2 → l3"). */
async function revisionChanges(db: Tx, organizationId: string, rows: EventRow[]): Promise<Map<string, string[]>> {
  const wanted = rows.filter((r) => r.serviceRevision);
  if (wanted.length === 0) return new Map();
  const keys = wanted.flatMap((r) => [r.serviceRevision!, { ...r.serviceRevision!, number: r.serviceRevision!.number - 1 }]);
  const revisions = await db.serviceRevision.findMany({
    where: { organizationId, OR: keys.filter((k) => k.number > 0).map((k) => ({ serviceId: k.serviceId, number: k.number })) },
    select: { serviceId: true, number: true, document: true },
  });
  const doc = new Map(revisions.map((r) => [`${r.serviceId}#${r.number}`, revisionDocument(r.document)]));
  const out = new Map<string, string[]>();
  for (const r of wanted) {
    const { serviceId, number } = r.serviceRevision!;
    if (!doc.has(`${serviceId}#${number}`)) continue;
    const before = number > 1 ? (doc.get(`${serviceId}#${number - 1}`) ?? null) : null;
    const diff = diffServices(before, doc.get(`${serviceId}#${number}`) ?? null);
    out.set(r.id, (await nameBalancers(db, organizationId, diff)).map(describeChange));
  }
  return out;
}
