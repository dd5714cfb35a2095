import { isIP } from 'node:net';
import { headers } from 'next/headers';
import { notFound } from 'next/navigation';
import { CLIENT_ADDRESS_HEADER, panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';
export const metadata = { title: 'Development outbox' };

const isLoopback = (address: string) => (isIP(address) === 4 && address.startsWith('127.')) || address === '::1';

/**
 * Mail that had no SMTP server to go to: every tenant's, reset links included, so
 * only in development (a production build compiles this check to "not found") and
 * only to a browser on this machine.
 */
export default async function Outbox() {
  if (process.env.NODE_ENV === 'production') notFound();
  const runtime = panelRuntime();
  if (!runtime.outboxVisible || !isLoopback((await headers()).get(CLIENT_ADDRESS_HEADER) ?? '')) notFound();
  const mails = await runtime.db.prisma.outboxMessage.findMany({ orderBy: { createdAt: 'desc' }, take: 50 });
  return (
    <main className="mx-auto max-w-3xl px-4 py-8">
      <h1 className="mb-1 text-2xl font-semibold">Outbox</h1>
      <p className="mb-6 text-sm text-slate-600">
        No SMTP server is configured (TULA_SMTP_URL), so mail is kept here instead of being sent.
      </p>
      {mails.length === 0 && <p>No mail yet.</p>}
      <ul className="flex flex-col gap-4">
        {mails.map((m) => (
          <li key={m.id} className="rounded-lg border border-slate-200 bg-white p-4" data-testid="outbox-mail">
            <p className="text-sm">
              <strong>To:</strong> {m.to} · <span className="text-slate-500">{m.createdAt.toLocaleString()}</span>
            </p>
            <p className="text-sm font-semibold">{m.subject}</p>
            <pre className="mt-2 whitespace-pre-wrap text-sm">{m.text}</pre>
          </li>
        ))}
      </ul>
    </main>
  );
}
