import { canonicalJson } from '@tula/control';
import { inputFromDocument, ServiceInput } from '@tula/validators';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { assertBaseRevision, latestRevision, loadServiceDocument, revisionDocument } from '../../revisions.ts';
import { writeProcedure } from '../../trpc.ts';
import { assertNoActiveRollout } from '../../rollouts.ts';
import { replaceService } from './write.ts';

export const RollbackInput = z.strictObject({
  id: z.string().min(1).max(64),
  /** The revision to restore. */
  number: z.int().min(1),
  /** The newest revision the person saw; refused if the service has moved on since. */
  baseRevision: z.int().min(1).optional(),
});

/**
 * Restores an earlier revision as a new one, through the same checks and change
 * path as an edit (audited, recompiled, pushed): a name, listener or node that
 * is no longer valid is refused with the field that is wrong.
 */
export const rollbackService = writeProcedure.input(RollbackInput).mutation(async ({ ctx, input }) => {
  const target = await ctx.db.prisma.serviceRevision.findFirst({
    where: { organizationId: ctx.org.id, serviceId: input.id, number: input.number },
  });
  const document = target && revisionDocument(target.document);
  if (!document) throw new TRPCError({ code: 'NOT_FOUND', message: `This service has no revision ${input.number} to roll back to.` });
  const parsed = ServiceInput.safeParse(inputFromDocument(document));
  // Rules can tighten after a revision was saved: say which field no longer passes.
  if (!parsed.success)
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `Revision ${input.number} no longer passes the service checks.`,
      cause: parsed.error,
    });
  const service = parsed.data;
  return change(
    ctx,
    {
      action: 'service.rollback',
      targetType: 'service',
      targetId: input.id,
      data: { name: document.name, restoredNumber: input.number },
      restoredNumber: input.number,
    },
    async (tx) => {
      await assertBaseRevision(tx, ctx.org.id, input.id, input.baseRevision);
      await assertNoActiveRollout(tx, ctx.org.id, input.id);
      if (canonicalJson(await loadServiceDocument(tx, ctx.org.id, input.id)) === canonicalJson(document)) {
        throw new TRPCError({
          code: 'BAD_REQUEST',
          message: `The service already is as revision ${input.number} left it; there is nothing to roll back.`,
        });
      }
      await replaceService(tx, ctx.org.id, input.id, service);
      return { id: input.id, number: (await latestRevision(tx, ctx.org.id, input.id))!.number + 1 };
    },
  );
});
