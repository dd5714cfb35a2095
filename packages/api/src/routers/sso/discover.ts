import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { emailDomain, ssoProviderId } from '../../sso.ts';
import { publicProcedure } from '../../trpc.ts';

export const DiscoverSsoInput = z.strictObject({
  /** A work address (its domain picks the organisation) or the organisation's slug. */
  emailOrSlug: z.string().trim().toLowerCase().min(1, 'Enter your work email or your organisation’s ID').max(254),
});

/**
 * Which provider "Sign in with SSO" should use. Before sign-in there is no
 * tenant: the read selects one connection by domain or slug on the owner
 * client and returns only its provider id. A domain two organisations allow
 * asks for the organisation's slug instead.
 */
export const discoverSso = publicProcedure.input(DiscoverSsoInput).mutation(async ({ ctx, input }) => {
  const byEmail = input.emailOrSlug.includes('@');
  const rows = await ctx.db.prisma.ssoConnection.findMany({
    where: byEmail ? { allowedDomains: { has: emailDomain(input.emailOrSlug) } } : { organization: { slug: input.emailOrSlug } },
    select: { organizationId: true },
    take: 2,
  });
  if (rows.length === 0) {
    throw new TRPCError({
      code: 'NOT_FOUND',
      message: byEmail
        ? 'No organisation signs in with SSO for this email domain. Sign in with your password, or enter your organisation’s ID.'
        : 'No organisation with this ID uses single sign-on. Check the ID with your administrator.',
    });
  }
  if (rows.length > 1) {
    throw new TRPCError({
      code: 'CONFLICT',
      message: 'Several organisations use SSO for this domain: enter your organisation’s ID instead.',
    });
  }
  return { providerId: ssoProviderId(rows[0]!.organizationId) };
});
