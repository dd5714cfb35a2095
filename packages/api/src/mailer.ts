// Outgoing mail: through SMTP when TULA_SMTP_URL is set, otherwise into the
// outbox table, which the development mailbox (/dev/outbox) shows.
import type { Database } from '@tula/db';
import { createTransport } from 'nodemailer';

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox';
  send(mail: Mail): Promise<void>;
}

export function createMailer(db: Database, smtpUrl: string | undefined, from: string): Mailer {
  if (smtpUrl) {
    const transport = createTransport(smtpUrl);
    return { kind: 'smtp', send: async (m) => void (await transport.sendMail({ from, ...m })) };
  }
  return { kind: 'outbox', send: async (m) => void (await db.prisma.outboxMessage.create({ data: m })) };
}
