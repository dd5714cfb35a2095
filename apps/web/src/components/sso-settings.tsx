'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { ConfirmButton } from './confirm-button';
import { Button, Card, ErrorNote, Field, Input, Select, Spinner } from './ui';
import { errorMessage, useTRPC } from '~/trpc/client';

/** Owners and admins set the organisation's OpenID Connect provider; the secret is write-only. */
export function SsoSettings() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery(trpc.sso.get.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.sso.get.queryKey() });
  const save = useMutation({ ...trpc.sso.save.mutationOptions(), onSuccess: refresh });
  const remove = useMutation({ ...trpc.sso.remove.mutationOptions(), onSuccess: refresh });
  const [form, setForm] = useState({
    issuer: '',
    clientId: '',
    clientSecret: '',
    domains: '',
    defaultRole: 'viewer' as 'viewer' | 'admin',
  });
  const [saved, setSaved] = useState(false);
  const connection = q.data?.connection;
  useEffect(() => {
    if (connection)
      setForm({
        issuer: connection.issuer,
        clientId: connection.clientId,
        clientSecret: '',
        domains: connection.allowedDomains.join(', '),
        defaultRole: connection.defaultRole === 'admin' ? 'admin' : 'viewer',
      });
  }, [connection]);

  function submit(e: FormEvent) {
    e.preventDefault();
    setSaved(false);
    save.mutate(
      {
        issuer: form.issuer.trim(),
        clientId: form.clientId,
        ...(form.clientSecret && { clientSecret: form.clientSecret }),
        allowedDomains: form.domains.split(/[\s,]+/).filter(Boolean),
        defaultRole: form.defaultRole,
      },
      { onSuccess: () => (setSaved(true), setForm((f) => ({ ...f, clientSecret: '' }))) },
    );
  }
  const fields = (save.error as { data?: { fields?: Record<string, string> } } | null)?.data?.fields ?? {};
  const fieldError = (name: string) => Object.entries(fields).find(([k]) => k === name || k.startsWith(`${name}.`))?.[1];
  if (q.isPending) return <Spinner label="Loading single sign-on" />;
  return (
    <Card title="Single sign-on (OpenID Connect)">
      <p className="mb-3 text-sm text-slate-600">
        People with an address in an allowed domain sign in through your identity provider and join this organisation with the default role.
        Register this redirect URL with the provider: <code className="break-all rounded bg-slate-100 px-1">{q.data?.redirectUrl}</code>.
        Organisation ID for “Sign in with SSO”: <code className="rounded bg-slate-100 px-1">{q.data?.organizationSlug}</code>
      </p>
      {(save.error || remove.error) && <ErrorNote>{errorMessage(save.error ?? remove.error)}</ErrorNote>}
      {saved && !save.error && (
        <p role="status" className="mb-3 rounded-md bg-emerald-50 p-3 text-sm text-emerald-900">
          Single sign-on saved. Members sign in with “Sign in with SSO” on the sign-in page.
        </p>
      )}
      <form onSubmit={submit} className="grid gap-3 sm:grid-cols-2" aria-label="Single sign-on settings">
        <Field label="Issuer URL" hint="The provider's issuer, e.g. https://login.example.com" error={fieldError('issuer')}>
          {(p) => <Input {...p} type="url" required value={form.issuer} onChange={(e) => setForm({ ...form, issuer: e.target.value })} />}
        </Field>
        <Field label="Client ID" error={fieldError('clientId')}>
          {(p) => <Input {...p} required value={form.clientId} onChange={(e) => setForm({ ...form, clientId: e.target.value })} />}
        </Field>
        <Field
          label="Client secret"
          hint={connection ? 'Saved and hidden. Leave empty to keep it; type a new one to replace it.' : 'Shown by your provider once.'}
          error={fieldError('clientSecret')}
        >
          {(p) => (
            <Input
              {...p}
              type="password"
              autoComplete="off"
              required={!connection}
              value={form.clientSecret}
              onChange={(e) => setForm({ ...form, clientSecret: e.target.value })}
            />
          )}
        </Field>
        <Field label="Allowed email domains" hint="Comma-separated, e.g. example.com, example.org" error={fieldError('allowedDomains')}>
          {(p) => <Input {...p} required value={form.domains} onChange={(e) => setForm({ ...form, domains: e.target.value })} />}
        </Field>
        <Field label="Default role for new members" hint="Admins change services and nodes; viewers only look.">
          {(p) => (
            <Select
              {...p}
              value={form.defaultRole}
              onChange={(e) => setForm({ ...form, defaultRole: e.target.value as 'viewer' | 'admin' })}
            >
              <option value="viewer">Viewer</option>
              <option value="admin">Admin</option>
            </Select>
          )}
        </Field>
        <div className="flex flex-wrap items-end gap-2">
          <Button type="submit" busy={save.isPending}>
            Save single sign-on
          </Button>
          {connection && (
            <ConfirmButton
              title="Turn single sign-on off?"
              description="Members keep their membership, but nobody can sign in through the identity provider until it is set up again."
              confirmLabel="Turn off"
              onConfirm={() => remove.mutate()}
            >
              Turn off
            </ConfirmButton>
          )}
        </div>
      </form>
    </Card>
  );
}
