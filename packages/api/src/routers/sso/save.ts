import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { ssoSecretBox } from '../../sso.ts';
import { personWriteProcedure } from '../../trpc.ts';

const loopback = (host: string) => host === 'localhost' || host === '[::1]' || /^127\./.test(host);

export const SaveSsoInput = z.strictObject({
  issuer: z
    .url({ message: 'Enter the issuer URL, e.g. https://login.example.com' })
    .max(500)
    .refine((u) => {
      const url = new URL(u);
      return url.protocol === 'https:' || (url.protocol === 'http:' && loopback(url.hostname));
    }, 'The issuer must use https:// (plain http only on this machine)'),
  clientId: z.string().trim().min(1, 'Enter the client ID from your identity provider').max(300),
  /** Empty keeps the saved secret; required the first time. */
  clientSecret: z.string().max(1000).optional(),
  allowedDomains: z
    .array(
      z
        .string()
        .trim()
        .toLowerCase()
        .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'Enter domains like example.com'),
    )
    .min(1, 'Allow at least one email domain')
    .max(20),
  defaultRole: z.enum(['viewer', 'admin']),
});

/**
 * Sets the organisation's OpenID Connect provider. The issuer's discovery
 * document must answer for this issuer, so a typo is caught here rather than
 * at someone's first sign-in. The secret is stored sealed and audited as "changed" only.
 */
export const saveSso = personWriteProcedure.input(SaveSsoInput).mutation(async ({ ctx, input }) => {
  const issuer = input.issuer.replace(/\/$/, '');
  const discovered = await fetch(`${issuer}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) })
    .then((r) => (r.ok ? (r.json() as Promise<{ issuer?: unknown }>) : null))
    .catch(() => null);
  if (!discovered || typeof discovered.issuer !== 'string' || discovered.issuer.replace(/\/$/, '') !== issuer) {
    throw new TRPCError({
      code: 'BAD_REQUEST',
      message: `No OpenID Connect discovery document for this issuer at ${issuer}/.well-known/openid-configuration; check the issuer URL (it must match the provider's "issuer" exactly).`,
    });
  }
  const secret = input.clientSecret?.trim();
  const box = ssoSecretBox(ctx.auth.options.secret);
  const domains = [...new Set(input.allowedDomains)];
  return change(
    ctx,
    (saved: { secretChanged: boolean }) => ({
      action: 'sso.update',
      targetType: 'sso_connection',
      data: {
        issuer,
        clientId: input.clientId,
        allowedDomains: domains,
        defaultRole: input.defaultRole,
        clientSecret: saved.secretChanged ? 'changed' : 'kept',
      },
    }),
    async (tx) => {
      const existing = await tx.ssoConnection.findUnique({ where: { organizationId: ctx.org.id }, select: { id: true } });
      if (!existing && !secret)
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'clientSecret: Enter the client secret from your identity provider' });
      const fields = {
        issuer,
        clientId: input.clientId,
        allowedDomains: domains,
        defaultRole: input.defaultRole,
        ...(secret && { clientSecretSealed: box.seal(secret) }),
      };
      if (existing) await tx.ssoConnection.update({ where: { organizationId: ctx.org.id }, data: fields });
      else await tx.ssoConnection.create({ data: { organizationId: ctx.org.id, ...fields, clientSecretSealed: box.seal(secret!) } });
      return { secretChanged: Boolean(secret) };
    },
  );
});
