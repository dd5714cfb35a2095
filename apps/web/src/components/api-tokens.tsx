'use client';

// The organisation's API tokens (Team page): create one (shown once), list them
// with last use, revoke.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Badge, Button, Card, ErrorNote, Field, Input, Select } from '~/components/ui';
import { TokenTable } from './token-table';
import { errorMessage, useTRPC } from '~/trpc/client';
import { LoadError } from './load-error';

const when = (d: Date | string | null) => (d ? new Date(d).toLocaleString() : 'never');

export function ApiTokens({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery(trpc.apiTokens.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.apiTokens.list.queryKey() });
  const create = useMutation({ ...trpc.apiTokens.create.mutationOptions(), onSuccess: refresh });
  const revoke = useMutation({ ...trpc.apiTokens.revoke.mutationOptions(), onSuccess: refresh });
  const [form, setForm] = useState<{ name: string; role: 'viewer' | 'admin'; expiresInDays: string }>({
    name: '',
    role: 'viewer',
    expiresInDays: '90',
  });
  const [shown, setShown] = useState<{ name: string; token: string }>();

  function submit(e: FormEvent) {
    e.preventDefault();
    const expiresInDays = form.expiresInDays === 'never' ? null : Number(form.expiresInDays);
    create.mutate(
      { name: form.name, role: form.role, expiresInDays },
      { onSuccess: (r) => (setShown({ name: form.name, token: r.token }), setForm({ ...form, name: '' })) },
    );
  }
  const error = create.error ?? revoke.error;
  return (
    <Card title="API tokens">
      <p className="mb-3 text-sm text-slate-600">
        For scripts and CI: send <code>Authorization: Bearer tula_…</code> to the{' '}
        <a className="underline" href="/app/api">
          HTTP API
        </a>
        . Each token acts with its own role, and the audit log names it.
      </p>
      <LoadError query={q} what="the API tokens" />
      {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
      {canEdit && (
        <form onSubmit={submit} className="mb-3 grid items-start gap-3 sm:grid-cols-[2fr_1fr_1fr_auto]">
          <Field label="Token name" hint="What uses it, e.g. “deploy pipeline”.">
            {(p) => <Input {...p} value={form.name} maxLength={80} onChange={(e) => setForm({ ...form, name: e.target.value })} />}
          </Field>
          <Field label="Token role">
            {(p) => (
              <Select {...p} value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as 'viewer' | 'admin' })}>
                <option value="viewer">Viewer (read only)</option>
                <option value="admin">Admin (changes)</option>
              </Select>
            )}
          </Field>
          <Field label="Expires">
            {(p) => (
              <Select {...p} value={form.expiresInDays} onChange={(e) => setForm({ ...form, expiresInDays: e.target.value })}>
                <option value="30">in 30 days</option>
                <option value="90">in 90 days</option>
                <option value="365">in a year</option>
                <option value="never">never</option>
              </Select>
            )}
          </Field>
          <Button type="submit" className="sm:mt-6" busy={create.isPending} disabled={form.name.trim() === ''}>
            Create token
          </Button>
        </form>
      )}
      {shown && (
        <div role="status" className="mb-3 rounded border border-emerald-300 bg-emerald-50 p-3 text-sm">
          <p>Token “{shown.name}”: copy it now, it is not shown again.</p>
          <code data-testid="new-api-token" className="mt-1 block break-all font-mono">
            {shown.token}
          </code>
        </div>
      )}
      {q.data && q.data.length > 0 && (
        <TokenTable
          caption="API tokens"
          tokens={q.data}
          columns={[
            {
              head: 'Name',
              cell: (t) => (
                <>
                  {t.name} <span className="font-mono text-slate-500">{t.prefix}…</span>
                </>
              ),
            },
            { head: 'Role', cell: (t) => <Badge>{t.role}</Badge> },
            { head: 'Last used', cell: (t) => when(t.lastUsedAt) },
            {
              head: 'Expires',
              cell: (t) =>
                t.revokedAt ? <Badge tone="red">revoked</Badge> : t.usable ? when(t.expiresAt) : <Badge tone="amber">expired</Badge>,
            },
          ]}
          revoke={
            canEdit
              ? {
                  name: (t) => `the token ${t.name}`,
                  label: (t) => t.name,
                  description: 'Requests carrying it are refused from now on.',
                  can: (t) => !t.revokedAt,
                  onRevoke: (t) => revoke.mutate({ id: t.id }),
                }
              : undefined
          }
        />
      )}
    </Card>
  );
}
