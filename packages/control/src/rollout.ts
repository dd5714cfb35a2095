// Staged rollouts, the pure part: which balancers go in which batch, which
// revision each node should run, and how a rollout moves on. The database holds
// the state (Rollout, RolloutNode); recompile.ts compiles per node and
// packages/api/src/rollouts.ts ticks it and detects regressions.

export type RolloutStatus = 'running' | 'paused' | 'completed' | 'aborted' | 'rolled_back';

export interface RolloutProgress {
  status: RolloutStatus;
  /** The batch applying or holding; 0 is the canary. */
  batch: number;
  /** End of the current batch's hold; null until the batch has applied the revision. */
  holdUntil: Date | null;
  reason: string | null;
}

/** Batch 0 is the canary alone, then the other balancers in batches of `batchSize`, in id order (the same plan on every replica). */
export function planBatches(balancerIds: readonly string[], options: { canary?: string; batchSize: number }): string[][] {
  if (balancerIds.length === 0) throw new Error('a staged rollout needs at least one balancer');
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new Error('batchSize must be a positive integer');
  const sorted = [...new Set(balancerIds)].sort();
  const canary = options.canary ?? sorted[0]!;
  if (!sorted.includes(canary)) throw new Error(`the canary ${canary} is not one of the service's balancers`);
  const rest = sorted.filter((id) => id !== canary);
  const batches = [[canary]];
  for (let i = 0; i < rest.length; i += options.batchSize) batches.push(rest.slice(i, i + options.batchSize));
  return batches;
}

/** The revision a node of batch `nodeBatch` should run: the new one once its batch was reached, the previous one otherwise or after a stop. */
export function revisionForNode(r: RolloutProgress & { toRevision: number; fromRevision: number }, nodeBatch: number): number {
  switch (r.status) {
    case 'completed':
      return r.toRevision;
    case 'aborted':
    case 'rolled_back':
      return r.fromRevision;
    case 'running':
    case 'paused':
      return nodeBatch <= r.batch ? r.toRevision : r.fromRevision;
  }
}

export type RolloutEvent =
  /** Time passed; `batchApplied`: every node of the current batch acknowledged the new revision. */
  | { kind: 'tick'; now: Date; batchApplied: boolean }
  /** A NACK, a backend the batch sees unhealthy that was healthy before, drops rising, or drift. */
  | { kind: 'regression'; reason: string }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'abort'; by: string };

const active = (s: RolloutStatus) => s === 'running' || s === 'paused';

/** The rollout after `event`, for a plan of `batches` batches and a hold of `holdSeconds`. Finished rollouts do not move. */
export function advanceRollout(r: RolloutProgress, event: RolloutEvent, plan: { batches: number; holdSeconds: number }): RolloutProgress {
  if (!active(r.status)) return r;
  switch (event.kind) {
    case 'regression':
      return { ...r, status: 'rolled_back', reason: event.reason };
    case 'abort':
      return { ...r, status: 'aborted', reason: `aborted by ${event.by}` };
    case 'pause':
      return r.status === 'running' ? { ...r, status: 'paused' } : r;
    case 'resume':
      // The hold starts over: a paused batch is watched for a full hold again.
      return r.status === 'paused' ? { ...r, status: 'running', holdUntil: null } : r;
    case 'tick': {
      if (r.status !== 'running') return r;
      if (r.holdUntil === null)
        return event.batchApplied ? { ...r, holdUntil: new Date(event.now.getTime() + plan.holdSeconds * 1000) } : r;
      if (event.now < r.holdUntil) return r;
      if (r.batch + 1 >= plan.batches) return { ...r, status: 'completed', holdUntil: null };
      return { ...r, batch: r.batch + 1, holdUntil: null };
    }
  }
}

/**
 * A service under a staged rollout, as the compiler sees it: the new rows for
 * the balancers whose batch was reached, the previous revision's for the rest.
 * Two rows, each carried by its own balancers; the backends serve both (their
 * VIP section names every balancer that carries either), so a backend the new
 * revision drops keeps serving the balancers that still run the old one.
 */
export function stagedServiceRows<S extends { balancerNodeIds: string[] }>(
  current: S,
  previous: S,
  previousNodeIds: ReadonlySet<string>,
): S[] {
  return [
    { ...current, balancerNodeIds: current.balancerNodeIds.filter((id) => !previousNodeIds.has(id)) },
    { ...previous, balancerNodeIds: previous.balancerNodeIds.filter((id) => previousNodeIds.has(id)) },
  ];
}
