import { canonicalJson } from '@tula/control';
import { ServiceInput } from '@tula/validators';
import { z } from 'zod';
import { change } from '../../change.ts';
import { assertBaseRevision, latestRevision, loadServiceDocument } from '../../revisions.ts';
import { assertNoActiveRollout, startRollout } from '../../rollouts.ts';
import { StagedOptions } from '../../staged-options.ts';
import { writeProcedure } from '../../trpc.ts';
import { replaceService } from './write.ts';

export const UpdateServiceInput = z.strictObject({
  id: z.string().min(1).max(64),
  service: ServiceInput,
  /** The revision the change was reviewed against (services.preview); refused if the service has moved on. */
  baseRevision: z.int().min(1).optional(),
  /** Apply it to a canary balancer first, then to the others after a hold with no regression (docs/revisions.md). */
  staged: StagedOptions.optional(),
});

/** An edit of a service, at once or staged (a rollout). */
export const updateService = writeProcedure.input(UpdateServiceInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    {
      action: 'service.update',
      targetType: 'service',
      targetId: input.id,
      data: { name: input.service.name, ...(input.staged && { staged: input.staged }) },
    },
    async (tx) => {
      await assertBaseRevision(tx, ctx.org.id, input.id, input.baseRevision);
      await assertNoActiveRollout(tx, ctx.org.id, input.id);
      const [before, latest] = await Promise.all([loadServiceDocument(tx, ctx.org.id, input.id), latestRevision(tx, ctx.org.id, input.id)]);
      await replaceService(tx, ctx.org.id, input.id, input.service);
      const after = await loadServiceDocument(tx, ctx.org.id, input.id);
      // A save that changes nothing records no revision, so there is nothing to stage.
      if (input.staged && before && after && latest && canonicalJson(before) !== canonicalJson(after)) {
        await startRollout(tx, {
          organizationId: ctx.org.id,
          serviceId: input.id,
          before,
          after,
          fromRevision: latest.number,
          staged: input.staged,
          startedById: ctx.actor.userId,
        });
      }
      return { id: input.id };
    },
  ),
);
