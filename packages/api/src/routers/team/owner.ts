import { TRPCError } from '@trpc/server';
import type { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

/** Owners change roles and remove members; nobody removes the last owner. */
export const ownerProcedure = writeProcedure.use(({ ctx, next }) => {
  if (ctx.org.role !== 'owner') throw new TRPCError({ code: 'FORBIDDEN', message: 'Only an owner of this organisation can do this.' });
  return next();
});

export async function assertNotLastOwner(tx: Parameters<Parameters<typeof change>[2]>[0], organizationId: string, membershipId: string) {
  const m = await tx.membership.findFirst({ where: { id: membershipId, organizationId } });
  if (!m) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such member of this organisation.' });
  if (m.role === 'owner' && (await tx.membership.count({ where: { organizationId, role: 'owner' } })) === 1) {
    throw new TRPCError({
      code: 'PRECONDITION_FAILED',
      message: 'An organisation keeps at least one owner; make someone else owner first.',
    });
  }
  return m;
}
