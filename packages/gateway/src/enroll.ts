// POST /api/agent/enroll: an enrollment token in, a node credential out.
import { limitKey, newSecret, recompileNodes, sha256, SharedLimiter, type Bus, type TrialLimits } from '@tula/control';
import type { Database } from '@tula/db';
import { lockOrganization } from '@tula/db/locks';
import { EnrollRequest, type EnrollResponse } from '@tula/protocol';

/**
 * Enrollment attempts allowed per client address and minute, counted in the
 * database for every replica. The default (10) lets a fleet behind one NAT
 * enroll in waves and is far too few to guess tokens.
 */
export function enrollmentLimiter(db: Database, perMinute = 10): SharedLimiter {
  return new SharedLimiter(db, 'enroll', perMinute, 60);
}

/** What a client sees when enrollment fails inside the panel; the detail goes to the log. */
export const ENROLL_FAILED =
  'Enrollment failed inside the panel; retry in a minute, and if it keeps failing ask the panel operator to check its log.';

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  Response.json(body, { status, headers: { 'cache-control': 'no-store', ...headers } });

export interface EnrollDeps {
  db: Database;
  bus: Bus;
  limits: TrialLimits;
  enrollAttempts: SharedLimiter;
  log?: (message: string) => void;
}

export async function enroll(deps: EnrollDeps, request: Request, clientAddress: string): Promise<Response> {
  if (!(await deps.enrollAttempts.take(limitKey(clientAddress))))
    return json(429, { error: 'Too many enrollment attempts from this address; wait a minute.' }, { 'retry-after': '60' });
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return json(400, { error: 'The body must be JSON: {"token", "name", "hostname"}.' });
  }
  const parsed = EnrollRequest.safeParse(body);
  if (!parsed.success)
    return json(400, {
      error: 'Invalid enrollment request.',
      problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    });
  const { token, name, hostname } = parsed.data;
  const db = deps.db.prisma;

  // The token is looked up by its hash: the secret itself is never compared.
  const row = await db.enrollmentToken.findUnique({ where: { tokenHash: sha256(token) } });
  const refused = json(401, {
    error: 'This enrollment token is unknown, expired, revoked or used up. Create a new one in the panel (Fleet > Add a node).',
  });
  if (!row || row.revokedAt || row.expiresAt.getTime() < Date.now() || row.uses >= row.maxUses) return refused;

  const credential = newSecret('tnc');
  try {
    const result = await db.$transaction(async (tx) => {
      await tx.$executeRaw(lockOrganization(row.organizationId));
      // Counting the use and checking the limit in one statement: concurrent enrollments cannot overrun it.
      const used = await tx.enrollmentToken.updateMany({
        where: { id: row.id, revokedAt: null, uses: { lt: row.maxUses }, expiresAt: { gt: new Date() } },
        data: { uses: { increment: 1 } },
      });
      if (used.count === 0) return undefined;
      const existing = await tx.node.findUnique({ where: { organizationId_name: { organizationId: row.organizationId, name } } });
      if (existing) return 'name-taken' as const;
      if ((await tx.node.count({ where: { organizationId: row.organizationId, revokedAt: null } })) >= deps.limits.nodes)
        return 'limit' as const;
      const node = await tx.node.create({
        data: { organizationId: row.organizationId, name, hostname, credentialHash: sha256(credential), enrolledWithId: row.id },
      });
      await tx.auditEvent.create({
        data: {
          organizationId: row.organizationId,
          actorLabel: `agent on ${hostname}`,
          action: 'node.enroll',
          targetType: 'node',
          targetId: node.id,
          data: { name, token: row.prefix },
        },
      });
      // A new node has no addresses and balances nothing: only its own (first) document changes.
      const changed = await recompileNodes(tx, row.organizationId, [{ nodeId: node.id, addresses: [] }]);
      return { node, changed };
    });
    if (result === undefined) return refused;
    if (result === 'limit')
      return json(403, { error: `The free trial allows ${deps.limits.nodes} nodes; revoke one in the panel to add another.` });
    if (result === 'name-taken')
      return json(409, { error: `A node named "${name}" already exists in this organisation; start the agent with another --name.` });
    if (result.changed.length) await deps.bus.publish({ kind: 'nodes', nodeIds: result.changed });
    await deps.bus.publish({ kind: 'fleet', organizationId: row.organizationId });
    const response: EnrollResponse = { nodeId: result.node.id, credential };
    return json(201, response);
  } catch (err) {
    (deps.log ?? console.error)(`enroll: request from ${clientAddress} failed: ${(err as Error).message}`);
    return json(500, { error: ENROLL_FAILED });
  }
}
