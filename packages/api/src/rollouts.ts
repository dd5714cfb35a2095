// Staged rollouts, the shell around packages/control/src/rollout.ts: starting
// one with a change, restoring the previous revision when one stops, and the
// ticker that moves running rollouts on and watches them for regressions.
import { advanceRollout, planBatches, recompileOrganization, type Bus } from '@tula/control';
import type { Database } from '@tula/db';
import { inputFromDocument, ServiceInput, type ServiceDocument } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import type { Tx } from './change.ts';
import { recordRevision, revisionDocument } from './revisions.ts';
import type { StagedOptions } from './staged-options.ts';
import { replaceService } from './routers/services/write.ts';
import { startTicker } from './ticker.ts';

type Rollout = Awaited<ReturnType<Tx['rollout']['findFirstOrThrow']>>;

export function activeRollout(tx: Tx, organizationId: string, serviceId: string) {
  return tx.rollout.findFirst({ where: { organizationId, serviceId, status: { in: ['running', 'paused'] } } });
}

/** The rollout in progress of a service of this organisation; another organisation's service is not found. */
export async function serviceRollout(tx: Tx, organizationId: string, serviceId: string) {
  const service = await tx.service.findFirst({ where: { id: serviceId, organizationId }, select: { id: true } });
  if (!service) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such service in this organisation.' });
  return activeRollout(tx, organizationId, serviceId);
}

/** A service under a staged rollout takes no other change until it completes or is aborted. */
export async function assertNoActiveRollout(tx: Tx, organizationId: string, serviceId: string) {
  const r = await activeRollout(tx, organizationId, serviceId);
  if (r) {
    throw new TRPCError({
      code: 'CONFLICT',
      message: `A staged rollout of revision ${r.toRevision} of this service is ${r.status}; wait for it to complete, or abort it, before changing the service again.`,
    });
  }
}

/** Plans the rollout of the revision the change is about to record (fromRevision + 1). Run in the change's transaction. */
export async function startRollout(
  tx: Tx,
  r: {
    organizationId: string;
    serviceId: string;
    before: ServiceDocument;
    after: ServiceDocument;
    fromRevision: number;
    staged: StagedOptions;
    startedById: string | null;
  },
) {
  const balancers = [...new Set([...r.before.balancerNodeIds, ...r.after.balancerNodeIds])];
  let batches: string[][];
  try {
    batches = planBatches(balancers, { batchSize: r.staged.batchSize, ...(r.staged.canary ? { canary: r.staged.canary } : {}) });
  } catch (err) {
    throw new TRPCError({ code: 'BAD_REQUEST', message: `This change cannot be staged: ${(err as Error).message}.` });
  }
  await tx.rollout.create({
    data: {
      organizationId: r.organizationId,
      serviceId: r.serviceId,
      fromRevision: r.fromRevision,
      toRevision: r.fromRevision + 1,
      holdSeconds: r.staged.holdSeconds,
      batchSize: r.staged.batchSize,
      startedById: r.startedById,
      nodes: { create: batches.flatMap((ids, batch) => ids.map((nodeId) => ({ organizationId: r.organizationId, nodeId, batch }))) },
    },
  });
}

/** Stops a rollout and puts the previous revision back in the rows, so every node compiles it again. The caller records the revision. */
export async function restorePrevious(tx: Tx, rollout: Rollout, status: 'rolled_back' | 'aborted', reason: string) {
  const from = await tx.serviceRevision.findFirst({
    where: { organizationId: rollout.organizationId, serviceId: rollout.serviceId, number: rollout.fromRevision },
  });
  const document = from && revisionDocument(from.document);
  if (!document) throw new Error(`revision ${rollout.fromRevision} of service ${rollout.serviceId} is missing`);
  await tx.rollout.update({ where: { id: rollout.id }, data: { status, reason, holdUntil: null } });
  await replaceService(tx, rollout.organizationId, rollout.serviceId, ServiceInput.parse(inputFromDocument(document)));
}

/** What went wrong on the balancers the rollout reached, or null. */
async function findRegression(tx: Tx, rollout: Rollout, reached: string[], now: Date): Promise<string | null> {
  const nodes = await tx.node.findMany({
    where: { id: { in: reached } },
    select: { id: true, name: true, lastError: true, lastErrorAt: true, lastDriftAt: true, lastDrift: true },
  });
  const name = (id: string) => nodes.find((n) => n.id === id)?.name ?? id;
  const nack = nodes.find((n) => n.lastError && n.lastErrorAt && n.lastErrorAt >= rollout.createdAt);
  if (nack) return `${nack.name} rejected revision ${rollout.toRevision}: ${nack.lastError}`;
  // Tables changed under a node that runs the new revision: the change cannot be judged on it, so it counts against it.
  const drifted = nodes.find((n) => n.lastDriftAt && n.lastDriftAt >= rollout.createdAt);
  if (drifted) return `${drifted.name} repaired drift under revision ${rollout.toRevision}: ${drifted.lastDrift.join('; ')}`;

  // A backend a reached balancer reports down, that this balancer did not report down before the rollout.
  const backends = await tx.backend.findMany({ where: { serviceId: rollout.serviceId }, select: { id: true, address: true } });
  const down = await tx.healthTransition.findMany({
    where: {
      organizationId: rollout.organizationId,
      nodeId: { in: reached },
      backendId: { in: backends.map((b) => b.id) },
      at: { gte: rollout.createdAt },
    },
    orderBy: { at: 'asc' },
  });
  const latest = new Map<string, (typeof down)[number]>();
  for (const t of down) latest.set(`${t.nodeId} ${t.backendId}`, t);
  for (const t of latest.values()) {
    if (t.healthy) continue;
    const before = await tx.healthTransition.findFirst({
      where: { nodeId: t.nodeId, backendId: t.backendId, at: { lt: rollout.createdAt } },
      orderBy: { at: 'desc' },
    });
    if (before && !before.healthy) continue;
    return `${name(t.nodeId)} reports backend ${backends.find((b) => b.id === t.backendId)?.address} unhealthy under revision ${rollout.toRevision}`;
  }

  // Drops of the service on the reached balancers, since the rollout began against the same span before it
  // (per-node counters, kept in 10 s buckets: each row holds every node's part).
  const span = now.getTime() - rollout.createdAt.getTime();
  const [drops] = await tx.$queryRaw<{ after: bigint | null; before: bigint | null }[]>`
    SELECT sum(u.drops) FILTER (WHERE s.at >= ${rollout.createdAt}) AS after, sum(u.drops) FILTER (WHERE s.at < ${rollout.createdAt}) AS before
    FROM "CounterNodeSample" s CROSS JOIN LATERAL unnest(s."nodeIds", s.drops) AS u("nodeId", drops)
    WHERE s."organizationId" = ${rollout.organizationId} AND s.kind = 'service' AND s."seriesKey" = ${rollout.serviceId}
      AND u."nodeId" = ANY(${reached}::text[]) AND s.at >= ${new Date(rollout.createdAt.getTime() - span)}`;
  const after = Number(drops?.after ?? 0);
  const before = Number(drops?.before ?? 0);
  if (after > 2 * before)
    return `drops rose on the balancers running revision ${rollout.toRevision}: ${after} since the rollout began, ${before} in the same time before`;
  return null;
}

/** One step of one running rollout, under the organisation's lock. */
async function stepRollout(tx: Tx, rollout: Rollout, now: Date) {
  const members = await tx.rolloutNode.findMany({ where: { rolloutId: rollout.id } });
  const batches = Math.max(...members.map((m) => m.batch)) + 1;
  const reached = members.filter((m) => m.batch <= rollout.batch).map((m) => m.nodeId);
  const current = members.filter((m) => m.batch === rollout.batch).map((m) => m.nodeId);
  const reason = await findRegression(tx, rollout, reached, now);
  const applied = await tx.node.count({
    where: { id: { in: current }, revokedAt: null, desiredHash: { not: null }, appliedHash: { equals: tx.node.fields.desiredHash } },
  });
  const next = advanceRollout(
    rollout,
    reason ? { kind: 'regression', reason } : { kind: 'tick', now, batchApplied: applied === current.length },
    {
      batches,
      holdSeconds: rollout.holdSeconds,
    },
  );
  if (next.status === rollout.status && next.batch === rollout.batch && next.holdUntil?.getTime() === rollout.holdUntil?.getTime()) return;
  const audit = (action: string, data: Record<string, unknown>, serviceRevisionId: string | null = null) =>
    tx.auditEvent.create({
      data: {
        organizationId: rollout.organizationId,
        actorUserId: null,
        actorLabel: 'staged rollout',
        action,
        targetType: 'service',
        targetId: rollout.serviceId,
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- needed where the root tsconfig's program (the tests) checks this file: there Prisma's JSON input type does not take a Record<string, unknown>
        data: data as object,
        serviceRevisionId,
      },
    });
  if (next.status === 'rolled_back') {
    await restorePrevious(tx, rollout, 'rolled_back', next.reason!);
    const revision = await recordRevision(tx, {
      organizationId: rollout.organizationId,
      serviceId: rollout.serviceId,
      action: 'rollout.rolled_back',
      actorUserId: null,
      actorLabel: 'staged rollout',
      restoredNumber: rollout.fromRevision,
    });
    await audit(
      'rollout.rolled_back',
      { toRevision: rollout.toRevision, restoredNumber: rollout.fromRevision, reason: next.reason },
      revision?.id ?? null,
    );
    return;
  }
  await tx.rollout.update({ where: { id: rollout.id }, data: { status: next.status, batch: next.batch, holdUntil: next.holdUntil } });
  if (next.status === 'completed') await audit('rollout.complete', { toRevision: rollout.toRevision });
  else if (next.batch !== rollout.batch) await audit('rollout.advance', { toRevision: rollout.toRevision, batch: next.batch });
}

/**
 * Moves every running rollout on by one step. Each organisation is handled under
 * its change lock, taken with try: a replica that finds it held (a change, or
 * another replica ticking) skips that organisation until the next tick, so
 * several replicas never act on one rollout twice.
 */
export async function tickRollouts(db: Database, bus: Bus, now = new Date()): Promise<void> {
  const orgs = await db.prisma.rollout.findMany({
    where: { status: 'running' },
    distinct: ['organizationId'],
    select: { organizationId: true },
  });
  for (const { organizationId } of orgs) {
    const changed = await db.prisma.$transaction(async (tx) => {
      const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtext(${organizationId})) AS locked`;
      if (!lock?.locked) return [];
      const running = await tx.rollout.findMany({ where: { organizationId, status: 'running' }, orderBy: { createdAt: 'asc' } });
      for (const rollout of running) await stepRollout(tx, rollout, now);
      return recompileOrganization(tx, organizationId);
    });
    if (changed.length > 0) await bus.publish({ kind: 'nodes', nodeIds: changed });
  }
}

/** Ticks every `intervalMs` in this panel process; returns the stop function, which waits for a tick in flight. */
export function startRolloutTicker(
  db: Database,
  bus: Bus,
  options: { intervalMs?: number; log?: (m: string) => void } = {},
): () => Promise<void> {
  const log = options.log ?? ((m) => console.error(`rollouts: ${m}`));
  return startTicker(options.intervalMs ?? 1000, () => tickRollouts(db, bus).catch((err: Error) => log(`tick failed: ${err.message}`)));
}
