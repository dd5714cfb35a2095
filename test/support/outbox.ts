// Mail the panel kept in its outbox table (no SMTP server in tests), read
// straight from the test's database: the panel itself shows it to nobody in a
// production build.
import pg from 'pg';

export interface OutboxMail {
  to: string;
  subject: string;
  text: string;
  /** The first link in the mail. */
  link: string;
}

/** The newest mail to `to` (optionally whose subject matches), waiting up to `timeoutMs` for it. */
export async function latestMail(databaseUrl: string, to: string, subject?: RegExp, timeoutMs = 15_000): Promise<OutboxMail> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ to: string; subject: string; text: string }>(
        'SELECT "to", subject, text FROM "OutboxMessage" WHERE lower("to") = lower($1) ORDER BY "createdAt" DESC',
        [to],
      );
      const mail = rows.find((r) => !subject || subject.test(r.subject));
      if (mail) {
        const link = /https?:\/\/\S+/.exec(mail.text)?.[0];
        if (!link) throw new Error(`no link in the mail to ${to}: ${mail.text}`);
        return { ...mail, link };
      }
      if (Date.now() > deadline) throw new Error(`no mail to ${to}${subject ? ` matching /${subject.source}/` : ''} in the outbox`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await client.end();
  }
}
