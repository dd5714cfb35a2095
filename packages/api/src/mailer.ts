// Outgoing mail: through SMTP when TULA_SMTP_URL is set, otherwise into the
// outbox table, where the owners of the organisation a mail belongs to read it
// in the panel (Team page), and the development mailbox (/dev/outbox) shows all.
import type { Database } from '@tula/db';
import { createTransport } from 'nodemailer';

export interface Mail {
  to: string;
  subject: string;
  text: string;
  /** Whose owners may read it in the panel when it is kept (no SMTP); null or absent: no one's. */
  organizationId?: string | null;
  /** Mail about a member's own account: owners only, not admins (see OutboxMessage). */
  ownersOnly?: boolean;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(mail: Mail): Promise<void>;
}

export function createMailer(db: Database, smtpUrl: string | undefined, from: string): Mailer {
  if (smtpUrl) {
    const transport = createTransport(smtpUrl);
    return { kind: 'smtp', send: async ({ to, subject, text }) => void (await transport.sendMail({ from, to, subject, text })) };
  }
  return {
    kind: 'outbox',
    send: async (m) =>
      void (await db.prisma.outboxMessage.create({
        data: { to: m.to, subject: m.subject, text: m.text, organizationId: m.organizationId ?? null, ownersOnly: m.ownersOnly ?? false },
      })),
  };
}

/**
 * The organisation whose owners may read mail about this person's account: the
 * one they belong to, when they belong to exactly one. A person in several keeps
 * their reset link from all of them (an owner of one must not take an account
 * that reaches into another).
 */
export async function accountMailOrganization(db: Database, userId: string): Promise<string | null> {
  const memberships = await db.prisma.membership.findMany({ where: { userId }, select: { organizationId: true }, take: 2 });
  return memberships.length === 1 ? memberships[0]!.organizationId : null;
}

/** Where SMTP mail goes, for the start-up line: host and port, never the credentials in the URL. */
export function smtpServer(smtpUrl: string): string {
  const u = new URL(smtpUrl);
  return `${u.protocol}//${u.host}`;
}
