import { TRPCError } from '@trpc/server';
import { change } from '../../change.ts';
import { personWriteProcedure } from '../../trpc.ts';

/** Turns single sign-on off: the next SSO sign-in is refused; members keep their membership. */
export const removeSso = personWriteProcedure.mutation(async ({ ctx }) =>
  change(ctx, { action: 'sso.remove', targetType: 'sso_connection' }, async (tx) => {
    const r = await tx.ssoConnection.deleteMany({ where: { organizationId: ctx.org.id } });
    if (r.count === 0) throw new TRPCError({ code: 'NOT_FOUND', message: 'Single sign-on is not set up for this organisation.' });
    return { removed: true };
  }),
);
