// Single sign-on with OpenID Connect, one identity provider per organisation.
// better-auth's genericOAuth plugin does the protocol (discovery, PKCE, state,
// nonce, ID-token verification against the provider's keys); its provider list
// is fixed at start-up, so the plugin below builds an organisation's provider
// from its SsoConnection row when a sign-in or callback names it (provider id
// `sso-<organisationId>`). @better-auth/sso was not used: it keeps client
// secrets in plain text and adds people to organisations through the
// organization plugin, whose routes this panel keeps closed (auth.ts).
//
// The connection is read before anyone is signed in, so these reads use the
// owner client; they select by the provider id or address domain only.
import { secretBox } from '@tula/control';
import type { Database, MemberRole } from '@tula/db';
import { withTenant } from '@tula/db/tenant';
import type { BetterAuthPlugin } from 'better-auth';
import { createAuthMiddleware } from 'better-auth/api';
import { genericOAuth } from 'better-auth/plugins/generic-oauth';

const PREFIX = 'sso-';
export const ssoProviderId = (organizationId: string) => `${PREFIX}${organizationId}`;
const organizationOf = (providerId: string | undefined) => (providerId?.startsWith(PREFIX) ? providerId.slice(PREFIX.length) : undefined);

/** Seals and opens SSO client secrets (key derived from the auth secret). */
export const ssoSecretBox = (authSecret: string) => secretBox(authSecret, 'sso client secret');

export const emailDomain = (email: string) => email.slice(email.lastIndexOf('@') + 1).toLowerCase();

async function connectionOf(db: Database, organizationId: string) {
  return db.prisma.ssoConnection.findUnique({
    where: { organizationId },
    include: { organization: { select: { name: true } } },
  });
}

type AuthContext = Parameters<NonNullable<BetterAuthPlugin['init']>>[0];
type Provider = AuthContext['socialProviders'][number];

/** Builds the organisation's provider with genericOAuth's own code (discovery included). */
async function buildProvider(context: AuthContext, providerId: string, c: { issuer: string; clientId: string; clientSecret: string }) {
  const plugin = genericOAuth({
    config: [
      {
        providerId,
        discoveryUrl: `${c.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
        clientId: c.clientId,
        clientSecret: c.clientSecret,
        scopes: ['openid', 'email', 'profile'],
        pkce: true,
        requireIdTokenVerification: true,
        // The provider's claim, not a guess: linking to an existing account needs a verified address.
        mapProfileToUser: (profile) => ({ emailVerified: profile.email_verified === true }),
      },
    ],
  });
  const built = (await plugin.init({ ...context, socialProviders: [] })) as { context: { socialProviders: Provider[] } };
  return built.context.socialProviders[0];
}

/**
 * A better-auth plugin that makes `sso-<organisationId>` a sign-in provider
 * while that organisation has a connection: before /sign-in/social and
 * /callback/:id it (re)builds the provider from the row, so an edited issuer or
 * secret applies to the next sign-in and a removed connection stops at once.
 */
export function ssoPlugin(db: Database, authSecret: string): BetterAuthPlugin {
  const box = ssoSecretBox(authSecret);
  const built = new Map<string, { stamp: number; provider: Provider }>();
  return {
    id: 'tula-sso',
    hooks: {
      before: [
        {
          matcher: (ctx) => ctx.path === '/sign-in/social' || ctx.path === '/callback/:id',
          handler: createAuthMiddleware(async (ctx) => {
            const body = ctx.body as { provider?: unknown } | undefined;
            const providerId = typeof body?.provider === 'string' ? body.provider : (ctx.params as { id?: string } | undefined)?.id;
            const organizationId = organizationOf(providerId);
            if (!providerId || !organizationId) return;
            const providers = ctx.context.socialProviders;
            const drop = () => {
              const at = providers.findIndex((p) => p.id === providerId);
              if (at >= 0) providers.splice(at, 1);
            };
            const row = await connectionOf(db, organizationId);
            if (!row) {
              built.delete(providerId);
              drop();
              return;
            }
            const cached = built.get(providerId);
            let provider = cached?.stamp === row.updatedAt.getTime() ? cached.provider : undefined;
            if (!provider) {
              provider = await buildProvider(ctx.context, providerId, {
                issuer: row.issuer,
                clientId: row.clientId,
                clientSecret: box.open(row.clientSecretSealed),
              });
              // Discovery failed (logged by genericOAuth): the sign-in answers "provider not found".
              if (!provider) return drop();
              built.set(providerId, { stamp: row.updatedAt.getTime(), provider });
            }
            drop();
            providers.unshift(provider);
          }),
        },
      ],
    },
  };
}

/** The organisation an SSO sign-in is for, from the better-auth endpoint context, if it is one. */
export function ssoOrganizationOf(ctx: { path?: string; params?: unknown } | null | undefined): string | undefined {
  if (ctx?.path !== '/callback/:id') return undefined;
  return organizationOf((ctx.params as { id?: string } | undefined)?.id);
}

/**
 * better-auth's user.validateUserInfo gate: an SSO sign-in (new account, link or
 * returning person) needs an address in one of the organisation's allowed domains.
 * An existing account is linked to the provider only if it is already a member:
 * otherwise one organisation's provider, which can assert any address, could
 * take over an account of someone outside it.
 */
export async function validateSsoUser(
  db: Database,
  providerId: string | undefined,
  user: { id?: unknown; email?: string | null | undefined },
  action: string,
) {
  const email = user.email ?? undefined;
  const organizationId = organizationOf(providerId);
  if (!organizationId) return undefined;
  const row = await connectionOf(db, organizationId);
  if (!row)
    return { error: 'sso_not_configured', errorDescription: 'This organisation no longer uses single sign-on; sign in with a password.' };
  const domain = email ? emailDomain(email) : '';
  if (!row.allowedDomains.includes(domain)) {
    return {
      error: 'sso_domain_not_allowed',
      errorDescription: `Addresses at ${domain || 'this domain'} cannot join ${row.organization.name} through single sign-on. Ask an owner of the organisation to allow the domain, or sign in with your password.`,
    };
  }
  if (action === 'link-account' && typeof user.id === 'string') {
    const member = await db.prisma.membership.findUnique({ where: { organizationId_userId: { organizationId, userId: user.id } } });
    if (!member) {
      return {
        error: 'sso_account_exists',
        errorDescription: `An account with this address already exists and is not a member of ${row.organization.name}. Sign in with your password; an owner can invite you.`,
      };
    }
  }
  return undefined;
}

/**
 * After an SSO sign-in: the person is a member of the organisation (joining
 * with its default role, audited like any membership change) and the session
 * works in it. Runs in the tenant client of that organisation.
 */
export async function joinSsoOrganization(db: Database, organizationId: string, user: { id: string; email: string }): Promise<void> {
  const row = await connectionOf(db, organizationId);
  if (!row) return;
  await withTenant(db, organizationId, async (tx) => {
    const existing = await tx.membership.findUnique({ where: { organizationId_userId: { organizationId, userId: user.id } } });
    if (existing) return;
    const role: MemberRole = row.defaultRole;
    await tx.membership.create({ data: { organizationId, userId: user.id, role } });
    await tx.auditEvent.create({
      data: {
        organizationId,
        actorUserId: user.id,
        actorLabel: user.email,
        action: 'member.join',
        targetType: 'membership',
        targetId: user.id,
        data: { via: 'single sign-on', role },
      },
    });
  });
}
