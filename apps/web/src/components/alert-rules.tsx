'use client';

// Alert rules (Alerts page): each kind on or off, with mail to owners and
// admins, and the time of "node offline" and "trial ending".
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ConfirmButton } from './confirm-button';
import { Button, Card, ErrorNote, Field, Input, Select, Table } from './ui';
import { errorMessage, useTRPC } from '~/trpc/client';
import { LoadError } from './load-error';

const KINDS: Record<string, string> = {
  backend_down: 'Backend down (and recovered)',
  service_down: 'Every backend of a service down',
  node_offline: 'Node offline',
  nack: 'Node rejected its configuration (NACK)',
  drift: 'Drift repaired on a node',
  rollout_rolled_back: 'Staged rollout rolled back',
  trial_ending: 'Trial ending',
};

export function AlertRules({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery(trpc.alerts.rules.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.alerts.rules.queryKey() });
  const update = useMutation({ ...trpc.alerts.updateRule.mutationOptions(), onSuccess: refresh });
  const create = useMutation({ ...trpc.alerts.createRule.mutationOptions(), onSuccess: refresh });
  const remove = useMutation({ ...trpc.alerts.deleteRule.mutationOptions(), onSuccess: refresh });
  const services = useQuery(trpc.services.list.queryOptions());
  const [scope, setScope] = useState<{ kind: 'backend_down' | 'service_down'; serviceId: string; backendId: string }>({
    kind: 'backend_down',
    serviceId: '',
    backendId: '',
  });
  const chosen = services.data?.find((s) => s.id === scope.serviceId);
  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate({ kind: scope.kind, serviceId: scope.serviceId || null, backendId: scope.backendId || null });
  }
  const error = update.error ?? create.error ?? remove.error;
  /** The last change to this rule was refused (its message is above the table). */
  const refused = (id: string) => update.isError && update.variables?.id === id;
  return (
    <Card title="Rules">
      <LoadError query={q} what="the rules" />
      {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
      {canEdit && (
        <form onSubmit={submit} className="mb-3 grid items-start gap-3 sm:grid-cols-[1fr_1fr_1fr_auto]">
          <Field label="New rule" hint="The rules below watch everything; a further rule can watch one service or one backend.">
            {(p) => (
              <Select
                {...p}
                value={scope.kind}
                onChange={(e) => setScope({ ...scope, kind: e.target.value as typeof scope.kind, backendId: '' })}
              >
                <option value="backend_down">{KINDS.backend_down}</option>
                <option value="service_down">{KINDS.service_down}</option>
              </Select>
            )}
          </Field>
          <Field label="Service">
            {(p) => (
              <Select {...p} value={scope.serviceId} onChange={(e) => setScope({ ...scope, serviceId: e.target.value, backendId: '' })}>
                <option value="">choose a service</option>
                {services.data?.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <Field label="Backend">
            {(p) => (
              <Select
                {...p}
                value={scope.backendId}
                disabled={scope.kind !== 'backend_down' || !chosen}
                onChange={(e) => setScope({ ...scope, backendId: e.target.value })}
              >
                <option value="">every backend of the service</option>
                {chosen?.backends.map((b) => (
                  <option key={b.id} value={b.id}>
                    {b.address}
                  </option>
                ))}
              </Select>
            )}
          </Field>
          <Button type="submit" className="sm:mt-6" busy={create.isPending} disabled={!scope.serviceId}>
            Add rule
          </Button>
        </form>
      )}
      {q.data && (
        <Table caption="Alert rules" head={['Alert', 'On', 'Mail owners and admins', 'After', '']}>
          {q.data.map((r) => {
            const label = `${KINDS[r.kind] ?? r.kind}${r.service ? ` (${r.service}${r.backend ? ` ${r.backend}` : ''})` : ''}`;
            return (
              <tr key={r.id}>
                <td className="px-3 py-2">{label}</td>
                <td className="px-3 py-2">
                  <input
                    type="checkbox"
                    aria-label={`${label}: on`}
                    disabled={!canEdit}
                    checked={r.enabled}
                    onChange={(e) => update.mutate({ id: r.id, enabled: e.target.checked })}
                  />
                </td>
                <td className="px-3 py-2">
                  <input
                    type="checkbox"
                    aria-label={`${label}: mail`}
                    disabled={!canEdit}
                    checked={r.email}
                    onChange={(e) => update.mutate({ id: r.id, email: e.target.checked })}
                  />
                </td>
                <td className="px-3 py-2">
                  {r.seconds !== null && (
                    <label className="flex items-center gap-1 text-sm whitespace-nowrap">
                      <Input
                        type="number"
                        className="max-w-28"
                        aria-label={`${label}: seconds`}
                        aria-invalid={refused(r.id) || undefined}
                        disabled={!canEdit}
                        min={10}
                        defaultValue={r.seconds}
                        onBlur={(e) => Number(e.target.value) !== r.seconds && update.mutate({ id: r.id, seconds: Number(e.target.value) })}
                        // Enter saves too, as in every other field: by leaving this one.
                        onKeyDown={(e) => e.key === 'Enter' && e.currentTarget.blur()}
                      />
                      s{r.kind === 'trial_ending' ? ' before the end' : ' offline'}
                    </label>
                  )}
                  {/* Saved on leaving the field: say so, so nobody reloads or leaves before it is stored. */}
                  {update.variables?.id === r.id && !update.isIdle && (
                    <span role="status" className={refused(r.id) ? 'text-xs font-medium text-red-700' : 'text-xs text-slate-500'}>
                      {update.isPending
                        ? 'saving…'
                        : update.isSuccess
                          ? 'saved'
                          : `not saved${r.seconds !== null ? `: still ${r.seconds} s` : ''}`}
                    </span>
                  )}
                </td>
                <td className="px-3 py-2">
                  {canEdit && r.serviceId && (
                    <ConfirmButton
                      variant="ghost"
                      aria-label={`Remove rule ${label}`}
                      title={`Remove the rule ${label}?`}
                      description="Its alerts stop; the rules for everything stay."
                      confirmLabel="Remove rule"
                      onConfirm={() => remove.mutate({ id: r.id })}
                    >
                      Remove
                    </ConfirmButton>
                  )}
                </td>
              </tr>
            );
          })}
        </Table>
      )}
    </Card>
  );
}
