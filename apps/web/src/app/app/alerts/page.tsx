'use client';

// Alerts: the notification list (acknowledge), the rules that raise them, and
// the webhooks they are delivered to, each with "Send test" and its delivery log.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useCanEdit } from '~/components/app-shell';
import { Badge, Button, Card, EmptyState, ErrorNote, Input } from '~/components/ui';
import { AlertRules } from '~/components/alert-rules';
import { Webhooks } from '~/components/webhooks';
import { ago } from '~/lib/format';
import { errorMessage, useTRPC } from '~/trpc/client';
import { LoadError } from '~/components/load-error';

/** Where an alert stands now (the API's `now`): only the newest alert of a subject still failing and still watched says "firing". */
const NOW = {
  firing: { tone: 'red', label: 'firing' },
  resolved: { tone: 'slate', label: 'resolved' },
  replaced: { tone: 'slate', label: 'replaced' },
  ended: { tone: 'slate', label: 'ended' },
  recovery: { tone: 'green', label: 'recovered' },
  end: { tone: 'slate', label: 'ended' },
  event: { tone: 'blue', label: 'event' },
} as const;

/** How a firing alert stopped: "ended: backend removed" when no recovery could follow it. */
const endedHow = (now: keyof typeof NOW, reason: string | null) =>
  now === 'resolved' ? 'resolved' : now === 'ended' ? `ended: ${reason ?? 'no longer watched'}` : 'replaced by a newer alert';

const when = (d: Date | string) => `${new Date(d).toLocaleString()} (${ago(d)})`;

export default function Alerts() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const queryClient = useQueryClient();
  const [onlyOpen, setOnlyOpen] = useState(false);
  const q = useQuery({ ...trpc.alerts.list.queryOptions({ unacknowledged: onlyOpen, limit: 100 }), refetchInterval: 3000 });
  const ack = useMutation({
    ...trpc.alerts.acknowledge.mutationOptions(),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.alerts.list.queryKey() }),
  });
  return (
    <div className="flex flex-col gap-6">
      <h1 className="text-2xl font-semibold">Alerts</h1>
      <Card title={`Notifications${q.data ? ` (${q.data.unacknowledged} to acknowledge)` : ''}`}>
        <label className="mb-3 flex items-center gap-2 text-sm">
          <Input type="checkbox" checked={onlyOpen} onChange={(e) => setOnlyOpen(e.target.checked)} />
          Only those not yet acknowledged
        </label>
        {q.data && (
          <p className="mb-3 text-sm" data-testid="firing-now">
            {q.data.firingNow > 0 ? (
              <Badge tone="red">{q.data.firingNow} firing now</Badge>
            ) : (
              <Badge tone="green">nothing firing now</Badge>
            )}
          </p>
        )}
        <LoadError query={q} what="the notifications" everySeconds={3} />
        {ack.error && <ErrorNote>{errorMessage(ack.error)}</ErrorNote>}
        {q.data && q.data.items.length === 0 && (
          <EmptyState title={onlyOpen ? 'Nothing to acknowledge' : 'No alerts yet'}>
            Alerts appear here when a rule below fires: a backend going down or recovering, a node offline, a rejected configuration, drift,
            a rolled-back rollout, the trial ending.
          </EmptyState>
        )}
        <ul className="flex flex-col divide-y divide-slate-200" aria-label="Notifications">
          {q.data?.items.map((a) => (
            <li key={a.id} className="flex flex-wrap items-start justify-between gap-2 py-2" data-testid="alert">
              <div className="min-w-0">
                <div className="flex flex-wrap items-center gap-2">
                  <span data-testid="alert-now" data-now={a.now}>
                    <Badge tone={NOW[a.now].tone}>{NOW[a.now].label}</Badge>
                  </span>
                  <span className="font-medium">{a.title}</span>
                </div>
                <p className="break-words text-sm text-slate-600">{a.detail}</p>
                <p className="text-xs text-slate-500">
                  {when(a.createdAt)}
                  {a.endedAt && ` · ${endedHow(a.now, a.endReason)} ${when(a.endedAt)}`}
                  {a.acknowledgedAt && ` · acknowledged by ${a.acknowledgedLabel} ${ago(a.acknowledgedAt)}`}
                </p>
              </div>
              {!a.acknowledgedAt && (
                <Button
                  variant="secondary"
                  className="px-2 py-1 text-xs"
                  aria-label={`Acknowledge: ${a.title}`}
                  busy={ack.isPending && ack.variables?.id === a.id}
                  onClick={() => ack.mutate({ id: a.id })}
                >
                  Acknowledge
                </Button>
              )}
            </li>
          ))}
        </ul>
      </Card>
      <Webhooks canEdit={canEdit} />
      <AlertRules canEdit={canEdit} />
    </div>
  );
}
