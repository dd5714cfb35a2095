import { orgProcedure } from '../../trpc.ts';
import { busWake } from './counters.ts';

/** A tick whenever the organisation's fleet changed (a node connected, applied, failed): refetch the fleet. */
export const liveFleet = orgProcedure.subscription(async function* ({ ctx, signal }) {
  const orgId = ctx.org.id;
  for await (const events of busWake(ctx.bus, (e) => e.kind === 'fleet' && e.organizationId === orgId, signal, 15_000)) {
    yield { at: Date.now(), changed: events.length > 0 };
  }
});
