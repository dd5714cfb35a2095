'use client';

import { useQuery } from '@tanstack/react-query';
import { Card, Spinner } from '~/components/ui';
import { useTRPC } from '~/trpc/client';
import { LoadError } from './load-error';

/**
 * With no mail server, the mail the panel would have sent for this organisation
 * (invitations; for owners also members' reset and confirmation links), for
 * owners and admins to pass on themselves. Renders nothing when mail is sent.
 */
export function TeamOutbox() {
  const trpc = useTRPC();
  const q = useQuery(trpc.team.outbox.queryOptions(undefined, { refetchInterval: 10_000 }));
  if (!q.data) return q.error ? <LoadError query={q} what="the outbox" everySeconds={10} /> : <Spinner label="Loading the outbox…" />;
  if (!q.data.kept && q.data.messages.length === 0) return null;
  return (
    <Card title="Outbox">
      <LoadError query={q} what="the outbox" everySeconds={10} />
      <p className="mb-3 text-sm text-slate-600">
        This panel has no mail server (TULA_SMTP_URL), so nothing is mailed: invitations, password resets and address confirmations of your
        organisation are kept here. Pass a link on to its person yourself; each works only for the address it was made for.
      </p>
      {q.data.messages.length === 0 ? (
        <p className="text-sm text-slate-600">No mail yet.</p>
      ) : (
        <ul className="flex flex-col gap-3" aria-label="Kept mail">
          {q.data.messages.map((m) => (
            <li key={m.id} className="rounded-md border border-slate-200 p-3 text-sm" data-testid="outbox-mail">
              <p className="break-all">
                <strong>To:</strong> {m.to} · <span className="text-slate-500">{new Date(m.createdAt).toLocaleString()}</span>
              </p>
              <p className="font-semibold">{m.subject}</p>
              <pre className="mt-1 whitespace-pre-wrap break-all font-sans text-slate-700">{m.text}</pre>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}
