// Accounts and sessions: better-auth with its Prisma adapter. Passwords are
// hashed with argon2id. Signing up creates the user's organisation (a 14-day
// trial, set by the database) with the user as owner. better-auth's organization
// plugin is deliberately not loaded: its routes would change organisations,
// memberships and invitations beside our API (no audit event, no read-only
// check, a fresh trial per organisation); the team router does all of that.
import { randomBytes } from 'node:crypto';
import { hash, verify } from '@node-rs/argon2';
import type { Database } from '@tula/db';
import { betterAuth } from 'better-auth';
import { prismaAdapter } from 'better-auth/adapters/prisma';
import { accountMailOrganization, type Mailer } from './mailer.ts';
import { joinSsoOrganization, ssoOrganizationOf, ssoPlugin, validateSsoUser } from './sso.ts';

export interface AuthOptions {
  db: Database;
  /** Public URL of the panel (cookies and links use it). */
  baseURL: string;
  /** Origins accepted besides baseURL's (the loopback aliases of a panel on its default address). */
  trustedOrigins?: string[];
  /** Signs session cookies; unset: one generated once and kept in the database for every replica. */
  secret?: string | undefined;
  /** Serve cookies with the Secure flag (behind HTTPS). */
  secureCookies: boolean;
  mailer: Mailer;
  /** Attempts per minute from one client: sign-ups, and sign-ins (also password-reset requests). */
  rateLimits: { signUpPerMinute: number; signInPerMinute: number };
  /** The request header the panel's server sets to the client address (the only one the limits read). */
  clientAddressHeader: string;
}

const ARGON2ID = 2;

/** The cookie-signing secret: configured, or created once in the database (race-safe across replicas). */
export async function authSecret(db: Database, configured?: string): Promise<string> {
  if (configured) return configured;
  await db.prisma.setting.upsert({
    where: { key: 'auth_secret' },
    create: { key: 'auth_secret', value: randomBytes(32).toString('base64url') },
    update: {},
  });
  return (await db.prisma.setting.findUniqueOrThrow({ where: { key: 'auth_secret' } })).value;
}

function slugFor(email: string): string {
  const base =
    email
      .split('@')[0]!
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'org';
  return `${base}-${randomBytes(3).toString('hex')}`;
}

export function createAuth(options: AuthOptions & { secret: string }) {
  const { db } = options;
  return betterAuth({
    baseURL: options.baseURL,
    secret: options.secret,
    database: prismaAdapter(db.prisma, { provider: 'postgresql' }),
    // Single sign-on: each organisation's OpenID Connect provider (sso.ts); no routes of its own.
    plugins: [ssoPlugin(db, options.secret)],
    user: {
      // An SSO sign-in needs an address in one of the organisation's allowed domains.
      validateUserInfo: ({ user, source }) => validateSsoUser(db, source.oauth?.providerId, user, source.action),
    },
    emailAndPassword: {
      enabled: true,
      minPasswordLength: 10,
      maxPasswordLength: 256,
      password: {
        hash: (password) => hash(password, { algorithm: ARGON2ID }),
        verify: ({ hash: stored, password }) => verify(stored, password),
      },
      resetPasswordTokenExpiresIn: 3600,
      sendResetPassword: async ({ user, url }) => {
        await options.mailer.send({
          organizationId: await accountMailOrganization(db, user.id),
          ownersOnly: true,
          to: user.email,
          subject: 'Reset your Tula password',
          text: `Someone (hopefully you) asked to reset the password of ${user.email} on Tula.\n\nSet a new password within an hour: ${url}\n\nIf it was not you, ignore this message; your password is unchanged.`,
        });
      },
      revokeSessionsOnPasswordReset: true,
    },
    // A verified address (emailVerified, set by following this link) is needed to
    // invite someone or to accept an invitation; signing in does not need it.
    emailVerification: {
      sendOnSignUp: true,
      autoSignInAfterVerification: true,
      expiresIn: 60 * 60 * 24 * 3,
      sendVerificationEmail: async ({ user, url }) => {
        const link = new URL(url);
        link.searchParams.set('callbackURL', '/app');
        await options.mailer.send({
          organizationId: await accountMailOrganization(db, user.id),
          ownersOnly: true,
          to: user.email,
          subject: 'Confirm your email address for Tula',
          text: `Confirm that ${user.email} is yours to invite teammates and to accept invitations on Tula (valid for 3 days): ${link.href}\n\nIf you did not sign up for Tula, ignore this message.`,
        });
      },
    },
    session: {
      expiresIn: 60 * 60 * 24 * 7,
      updateAge: 60 * 60 * 24,
      // The organisation the session works in; only our team router sets it.
      additionalFields: { activeOrganizationId: { type: 'string', required: false, input: false } },
    },
    rateLimit: {
      enabled: true,
      storage: 'database',
      window: 60,
      max: 300,
      customRules: {
        '/sign-up/email': { window: 60, max: options.rateLimits.signUpPerMinute },
        '/sign-in/email': { window: 60, max: options.rateLimits.signInPerMinute },
        '/request-password-reset': { window: 60, max: options.rateLimits.signInPerMinute },
      },
    },
    // Other addresses of this same panel that browsers may use (see the panel's server.ts).
    trustedOrigins: options.trustedOrigins ?? [],
    advanced: {
      // Always on: better-auth turns its Origin check (against cross-site requests) off by itself when the
      // environment says TEST, which every panel the test suite started inherited from vitest.
      disableOriginCheck: false,
      ipAddress: { ipAddressHeaders: [options.clientAddressHeader] },
      useSecureCookies: options.secureCookies,
      defaultCookieAttributes: { httpOnly: true, sameSite: 'lax' },
    },
    databaseHooks: {
      user: {
        create: {
          // Every new account gets its own organisation, on a free trial; one
          // made by single sign-on joins that organisation instead (session hook).
          after: async (user, ctx) => {
            if (ssoOrganizationOf(ctx)) return;
            const org = await db.prisma.organization.create({
              data: {
                name: `${user.name || user.email.split('@')[0]}'s organisation`,
                slug: slugFor(user.email),
                memberships: { create: { userId: user.id, role: 'owner' } },
              },
            });
            // The trial's end as the database set it: the date the banner counts down to.
            await db.prisma.auditEvent.create({
              data: {
                organizationId: org.id,
                actorUserId: user.id,
                actorLabel: user.email,
                action: 'organization.create',
                targetType: 'organization',
                targetId: org.id,
                data: { trialEndsAt: org.trialEndsAt.toISOString() },
              },
            });
          },
        },
      },
      session: {
        create: {
          // Signed in through an organisation's identity provider: a member of it, working in it.
          before: async (session, ctx) => {
            const organizationId = ssoOrganizationOf(ctx);
            if (!organizationId) return;
            const user = await db.prisma.user.findUniqueOrThrow({ where: { id: session.userId }, select: { id: true, email: true } });
            await joinSsoOrganization(db, organizationId, user);
            return { data: { ...session, activeOrganizationId: organizationId } };
          },
        },
      },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;
