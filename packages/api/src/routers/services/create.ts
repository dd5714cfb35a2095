import { TRPCError } from '@trpc/server';
import { ServiceInput, serviceColumns } from '@tula/validators';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';
import { checkAgainstOrganisation, writeChildren } from './write.ts';

/** A new service, within the organisation's trial limits. */
export const createService = writeProcedure.input(ServiceInput).mutation(async ({ ctx, input }) =>
  change(
    ctx,
    (s: { id: string }) => ({
      action: 'service.create',
      targetType: 'service',
      targetId: s.id,
      data: { name: input.name, vip: input.vip, ports: input.ports },
    }),
    async (tx) => {
      await checkAgainstOrganisation(tx, ctx.org.id, input);
      if ((await tx.service.count({ where: { organizationId: ctx.org.id } })) >= ctx.limits.services) {
        throw new TRPCError({
          code: 'FORBIDDEN',
          message: `The free trial allows ${ctx.limits.services} services; delete one to add another.`,
        });
      }
      const s = await tx.service.create({ data: { organizationId: ctx.org.id, ...serviceColumns(input) } });
      await writeChildren(tx, ctx.org.id, s.id, input);
      return { id: s.id };
    },
  ),
);
