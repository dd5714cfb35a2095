import { personWriteProcedure } from '../../trpc.ts';
import { ssoProviderId } from '../../sso.ts';

/** The organisation's SSO settings for its owners and admins; the client secret never leaves the server. */
export const getSso = personWriteProcedure.query(async ({ ctx }) => {
  const [row, org] = await ctx.tenant((tx) =>
    Promise.all([
      tx.ssoConnection.findUnique({
        where: { organizationId: ctx.org.id },
        select: { issuer: true, clientId: true, allowedDomains: true, defaultRole: true, updatedAt: true },
      }),
      tx.organization.findUniqueOrThrow({ where: { id: ctx.org.id }, select: { slug: true } }),
    ]),
  );
  const redirectUrl = `${ctx.publicUrl}/api/auth/callback/${ssoProviderId(ctx.org.id)}`;
  return { connection: row ? { ...row, clientSecretSet: true } : null, redirectUrl, organizationSlug: org.slug };
});
