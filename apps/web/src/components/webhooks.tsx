'use client';

// Webhooks (Alerts page): add one (its signing secret shown once), send a
// test, read its delivery log with each attempt's response code, remove it.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Badge, Button, Card, ErrorNote, Field, Input, Select, Table } from './ui';
import { ConfirmButton } from './confirm-button';
import { ago } from '~/lib/format';
import { errorMessage, useTRPC } from '~/trpc/client';
import { LoadError } from './load-error';

export function Webhooks({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery({ ...trpc.webhooks.list.queryOptions(), refetchInterval: 5000 });
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.webhooks.pathKey() });
  const create = useMutation({ ...trpc.webhooks.create.mutationOptions(), onSuccess: refresh });
  const remove = useMutation({ ...trpc.webhooks.delete.mutationOptions(), onSuccess: refresh });
  const test = useMutation({ ...trpc.webhooks.sendTest.mutationOptions(), onSuccess: refresh });
  const [form, setForm] = useState<{ name: string; url: string; format: 'json' | 'slack' }>({ name: '', url: '', format: 'json' });
  const [shown, setShown] = useState<{ name: string; secret: string }>();
  const [open, setOpen] = useState<string>();

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(form, { onSuccess: (r) => (setShown({ name: form.name, secret: r.secret }), setForm({ ...form, name: '', url: '' })) });
  }
  const error = create.error ?? remove.error ?? test.error;
  return (
    <Card title="Webhooks">
      <p className="mb-3 text-sm text-slate-600">
        Every alert is POSTed as JSON (or in Slack&apos;s format) with an <code>X-Tula-Signature</code> header: HMAC-SHA256 of the{' '}
        <code>X-Tula-Timestamp</code> header, a dot and the body, under the webhook&apos;s secret. Failed deliveries are retried with
        growing delays. See docs/alerts.md for a receiver.
      </p>
      <LoadError query={q} what="the webhooks" everySeconds={5} />
      {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
      {canEdit && (
        <form onSubmit={submit} className="mb-3 grid items-start gap-3 sm:grid-cols-[1fr_2fr_1fr_auto]">
          <Field label="Webhook name" hint="Where it goes, e.g. “on-call”.">
            {(p) => <Input {...p} value={form.name} maxLength={80} onChange={(e) => setForm({ ...form, name: e.target.value })} />}
          </Field>
          <Field label="Webhook URL" hint="http:// or https://">
            {(p) => <Input {...p} type="url" value={form.url} onChange={(e) => setForm({ ...form, url: e.target.value })} />}
          </Field>
          <Field label="Payload">
            {(p) => (
              <Select {...p} value={form.format} onChange={(e) => setForm({ ...form, format: e.target.value as 'json' | 'slack' })}>
                <option value="json">JSON (Tula)</option>
                <option value="slack">Slack-compatible</option>
              </Select>
            )}
          </Field>
          <Button type="submit" className="sm:mt-6" busy={create.isPending} disabled={form.name.trim() === '' || form.url.trim() === ''}>
            Add webhook
          </Button>
        </form>
      )}
      {shown && (
        <div role="status" className="mb-3 rounded border border-emerald-300 bg-emerald-50 p-3 text-sm">
          <p>Signing secret of “{shown.name}”: copy it into the receiver now, it is not shown again.</p>
          <code data-testid="new-webhook-secret" className="mt-1 block break-all font-mono">
            {shown.secret}
          </code>
        </div>
      )}
      {q.data && q.data.length > 0 && (
        <Table caption="Webhooks" head={['Name', 'URL', 'Last delivery', '']}>
          {q.data.map((h) => (
            <tr key={h.id}>
              <td className="px-3 py-2">
                {h.name} <Badge>{h.format}</Badge> <span className="font-mono text-xs text-slate-500">{h.secretPrefix}…</span>
              </td>
              <td className="max-w-xs truncate px-3 py-2 font-mono text-xs" title={h.url}>
                {h.url}
              </td>
              <td className="px-3 py-2 text-xs">
                {h.lastDelivery ? (
                  <>
                    <DeliveryBadge
                      status={h.lastDelivery.status}
                      tried={h.lastDelivery.statusCode != null || h.lastDelivery.error != null}
                    />{' '}
                    {h.lastDelivery.statusCode ?? h.lastDelivery.error ?? ''} {ago(h.lastDelivery.at)}
                  </>
                ) : (
                  'none yet'
                )}
              </td>
              <td className="flex flex-wrap gap-1 px-3 py-2">
                {canEdit && (
                  <Button
                    variant="secondary"
                    className="px-2 py-1 text-xs"
                    aria-label={`Send test to ${h.name}`}
                    busy={test.isPending && test.variables?.id === h.id}
                    onClick={() => test.mutate({ id: h.id }, { onSuccess: () => setOpen(h.id) })}
                  >
                    Send test
                  </Button>
                )}
                <Button
                  variant="ghost"
                  className="px-2 py-1 text-xs"
                  aria-expanded={open === h.id}
                  onClick={() => setOpen(open === h.id ? undefined : h.id)}
                >
                  Delivery log
                </Button>
                {canEdit && (
                  <ConfirmButton
                    variant="ghost"
                    aria-label={`Remove ${h.name}`}
                    title={`Remove the webhook ${h.name}?`}
                    description="Alerts are no longer sent to it; its pending deliveries and log go too."
                    confirmLabel={`Remove ${h.name}`}
                    onConfirm={() => remove.mutate({ id: h.id })}
                  >
                    Remove
                  </ConfirmButton>
                )}
              </td>
            </tr>
          ))}
        </Table>
      )}
      {open && <DeliveryLog id={open} name={q.data?.find((h) => h.id === open)?.name ?? ''} />}
    </Card>
  );
}

/** A pending delivery is "sending" until an attempt failed, then "retrying". */
function DeliveryBadge({ status, tried = true }: { status: 'pending' | 'delivered' | 'failed'; tried?: boolean }) {
  return (
    <Badge tone={status === 'delivered' ? 'green' : status === 'failed' ? 'red' : 'amber'}>
      {status === 'pending' ? (tried ? 'retrying' : 'sending') : status}
    </Badge>
  );
}

function DeliveryLog({ id, name }: { id: string; name: string }) {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.webhooks.deliveries.queryOptions({ id, limit: 50 }), refetchInterval: 2000 });
  return (
    <section aria-label={`Delivery log of ${name}`} className="mt-4" data-testid="delivery-log">
      <h3 className="mb-2 font-medium">Delivery log of {name}</h3>
      <LoadError query={q} what="the delivery log" everySeconds={2} />
      {q.data && q.data.length === 0 && <p className="text-sm text-slate-600">Nothing sent yet: use “Send test”.</p>}
      <ul className="flex flex-col gap-2 text-sm">
        {q.data?.map((d) => (
          <li key={d.id} className="rounded border border-slate-200 p-2" data-testid="delivery">
            <div className="flex flex-wrap items-center gap-2">
              <DeliveryBadge status={d.status} />
              <span>{d.test ? 'Test' : d.title}</span>
              <span className="text-xs text-slate-500">{new Date(d.createdAt).toLocaleString()}</span>
              {d.status === 'pending' && d.nextAttemptAt && (
                <span className="text-xs text-slate-500">next attempt {new Date(d.nextAttemptAt).toLocaleTimeString()}</span>
              )}
            </div>
            <ol className="mt-1 list-inside list-decimal text-xs text-slate-700">
              {d.log.map((a) => (
                <li key={a.attempt} data-testid="attempt">
                  {a.statusCode !== null ? `HTTP ${a.statusCode}` : 'no response'}
                  {a.error && ` (${a.error})`} after {a.durationMs} ms, {new Date(a.at).toLocaleTimeString()}
                  {a.retryAfterMs !== null && `; retry in ${(a.retryAfterMs / 1000).toFixed(1)} s`}
                </li>
              ))}
            </ol>
          </li>
        ))}
      </ul>
    </section>
  );
}
