import { orgProcedure } from '../../trpc.ts';

/** The local lab's status, for members of its demo organisation; null elsewhere. */
export const labStatus = orgProcedure.query(({ ctx }) => (ctx.lab && ctx.lab.organizationId === ctx.org.id ? ctx.lab.status() : null));
