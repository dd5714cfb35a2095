'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { InviteInput } from '@tula/validators';
import { useState, type FormEvent } from 'react';
import { ApiTokens } from '~/components/api-tokens';
import { useCanEdit } from '~/components/app-shell';
import { Badge, Button, Card, ErrorNote, Field, Input, Select, Spinner, Table } from '~/components/ui';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function Team() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const queryClient = useQueryClient();
  const summary = useQuery(trpc.org.summary.queryOptions());
  const q = useQuery(trpc.team.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.team.list.queryKey() });
  const invite = useMutation({ ...trpc.team.invite.mutationOptions(), onSuccess: refresh });
  const setRole = useMutation({ ...trpc.team.setRole.mutationOptions(), onSuccess: refresh });
  const remove = useMutation({ ...trpc.team.remove.mutationOptions(), onSuccess: refresh });
  const [form, setForm] = useState<{ email: string; role: 'admin' | 'viewer' }>({ email: '', role: 'viewer' });
  const [sent, setSent] = useState<string>();
  const check = InviteInput.safeParse(form);
  const isOwner = summary.data?.role === 'owner';

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!check.success) return;
    invite.mutate(check.data, { onSuccess: () => (setSent(form.email), setForm({ email: '', role: form.role })) });
  }
  const error = invite.error ?? setRole.error ?? remove.error;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Team</h1>
      {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
      {canEdit && (
        <Card title="Invite a teammate">
          <form onSubmit={submit} className="grid items-end gap-3 sm:grid-cols-[2fr_1fr_auto]">
            <Field label="Email" error={form.email && !check.success ? check.error.issues.find((i) => i.path[0] === 'email')?.message : undefined}>
              {(p) => <Input {...p} type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />}
            </Field>
            <Field label="Role" hint="Admins change services and nodes; viewers only look.">
              {(p) => (
                <Select {...p} value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as 'admin' | 'viewer' })}>
                  <option value="viewer">Viewer</option>
                  <option value="admin">Admin</option>
                </Select>
              )}
            </Field>
            <Button type="submit" busy={invite.isPending} disabled={!check.success}>
              Send invitation
            </Button>
          </form>
          {sent && <p role="status" className="mt-2 text-sm text-emerald-800">Invitation sent to {sent}.</p>}
        </Card>
      )}
      {!q.data ? (
        <Spinner label="Loading members…" />
      ) : (
        <>
          <Table caption="Members" head={['Member', 'Role', '']}>
            {q.data.members.map((m) => (
              <tr key={m.id}>
                <td className="px-3 py-2">
                  {m.user.name} <span className="text-slate-500">{m.user.email}</span>
                </td>
                <td className="px-3 py-2">
                  {isOwner && m.user.id !== summary.data?.user?.id ? (
                    <Select aria-label={`Role of ${m.user.email}`} value={m.role} onChange={(e) => setRole.mutate({ membershipId: m.id, role: e.target.value as 'owner' | 'admin' | 'viewer' })} className="max-w-32">
                      <option value="owner">owner</option>
                      <option value="admin">admin</option>
                      <option value="viewer">viewer</option>
                    </Select>
                  ) : (
                    <Badge>{m.role}</Badge>
                  )}
                </td>
                <td className="px-3 py-2">
                  {isOwner && m.user.id !== summary.data?.user?.id && (
                    <Button variant="ghost" onClick={() => remove.mutate({ membershipId: m.id })}>
                      Remove
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
          {q.data.invitations.length > 0 && (
            <Card title="Pending invitations">
              <ul className="text-sm">
                {q.data.invitations.map((i) => (
                  <li key={i.id}>
                    {i.email} as {i.role}, until {new Date(i.expiresAt).toLocaleDateString()}
                  </li>
                ))}
              </ul>
            </Card>
          )}
        </>
      )}
      <ApiTokens canEdit={canEdit} />
    </div>
  );
}
