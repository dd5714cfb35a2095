'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { InviteInput } from '@tula/validators';
import { useState, type FormEvent } from 'react';
import { ApiTokens } from '~/components/api-tokens';
import { SsoSettings } from '~/components/sso-settings';
import { useCanEdit } from '~/components/app-shell';
import { Badge, Button, Card, ErrorNote, Field, Input, Select, Spinner, Table } from '~/components/ui';
import { ConfirmButton } from '~/components/confirm-button';
import { TeamOutbox } from '~/components/team-outbox';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function Team() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const queryClient = useQueryClient();
  const summary = useQuery(trpc.org.summary.queryOptions());
  const q = useQuery(trpc.team.list.queryOptions());
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.team.list.queryKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.team.outbox.queryKey() }),
    ]);
  const invite = useMutation({ ...trpc.team.invite.mutationOptions(), onSuccess: refresh });
  const setRole = useMutation({ ...trpc.team.setRole.mutationOptions(), onSuccess: refresh });
  const remove = useMutation({ ...trpc.team.remove.mutationOptions(), onSuccess: refresh });
  const revokeInvitation = useMutation({ ...trpc.team.revokeInvitation.mutationOptions(), onSuccess: refresh });
  const renewInvitation = useMutation({ ...trpc.team.renewInvitation.mutationOptions(), onSuccess: refresh });
  const [invitationNote, setInvitationNote] = useState<{ email: string; text: string; link?: string }>();
  const [form, setForm] = useState<{ email: string; role: 'admin' | 'viewer' }>({ email: '', role: 'viewer' });
  const [sent, setSent] = useState<string>();
  const check = InviteInput.safeParse(form);
  const isOwner = summary.data?.role === 'owner';
  const readsOutbox = isOwner || summary.data?.role === 'admin';
  // Whether invitations are mailed or kept in the outbox (no mail server): what the notes below promise.
  const outbox = useQuery({ ...trpc.team.outbox.queryOptions(), enabled: readsOutbox });
  const mailKept = outbox.data?.kept === true;

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!check.success) return;
    invite.mutate(check.data, { onSuccess: () => (setSent(form.email), setForm({ email: '', role: form.role })) });
  }
  const error = invite.error ?? setRole.error ?? remove.error ?? revokeInvitation.error ?? renewInvitation.error;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Team</h1>
      {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
      {canEdit && (
        <Card title="Invite a teammate">
          <form onSubmit={submit} className="grid items-start gap-3 sm:grid-cols-[2fr_1fr_auto]">
            <Field
              label="Email"
              error={form.email && !check.success ? check.error.issues.find((i) => i.path[0] === 'email')?.message : undefined}
            >
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
            <Button type="submit" className="sm:mt-6" busy={invite.isPending} disabled={!check.success}>
              Send invitation
            </Button>
          </form>
          {sent && (
            <p role="status" className="mt-2 text-sm text-emerald-800">
              {mailKept
                ? `Invitation for ${sent} kept in the outbox below (no mail server): pass its link on yourself.`
                : `Invitation sent to ${sent}.`}
            </p>
          )}
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
                    <Select
                      aria-label={`Role of ${m.user.email}`}
                      value={m.role}
                      onChange={(e) => setRole.mutate({ membershipId: m.id, role: e.target.value as 'owner' | 'admin' | 'viewer' })}
                      fit
                    >
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
                    <ConfirmButton
                      variant="ghost"
                      title={`Remove ${m.user.name || m.user.email}?`}
                      description="They lose access to this organisation at once; invite them again to undo."
                      confirmLabel={`Remove ${m.user.name || m.user.email}`}
                      onConfirm={() => remove.mutate({ membershipId: m.id })}
                    >
                      Remove
                    </ConfirmButton>
                  )}
                </td>
              </tr>
            ))}
          </Table>
          {q.data.invitations.length > 0 && (
            <Card title="Pending invitations">
              <ul className="flex flex-col divide-y divide-slate-100 text-sm">
                {q.data.invitations.map((i) => (
                  <li key={i.id} className="flex flex-wrap items-center justify-between gap-2 py-2">
                    <span className="min-w-0">
                      {/* A long address may break anywhere; the date never does ("12/12/2 026"). */}
                      <span className="break-all">{i.email}</span> as {i.role},{' '}
                      <span className="whitespace-nowrap">until {new Date(i.expiresAt).toLocaleDateString()}</span>
                    </span>
                    {canEdit && (
                      <span className="flex flex-wrap gap-1">
                        <Button
                          variant="ghost"
                          aria-label={`Resend the invitation to ${i.email}`}
                          busy={
                            renewInvitation.isPending &&
                            renewInvitation.variables?.id === i.id &&
                            renewInvitation.variables.deliver === 'mail'
                          }
                          onClick={() =>
                            renewInvitation.mutate(
                              { id: i.id, deliver: 'mail' },
                              {
                                onSuccess: () =>
                                  setInvitationNote({
                                    email: i.email,
                                    text: mailKept
                                      ? `A new link for ${i.email}, valid for 7 days, is in the outbox below (no mail server); the earlier link no longer works.`
                                      : `Sent ${i.email} a new link, valid for 7 days; the earlier link no longer works.`,
                                  }),
                              },
                            )
                          }
                        >
                          Resend
                        </Button>
                        <Button
                          variant="ghost"
                          aria-label={`Copy a link to the invitation for ${i.email}`}
                          busy={
                            renewInvitation.isPending &&
                            renewInvitation.variables?.id === i.id &&
                            renewInvitation.variables.deliver === 'link'
                          }
                          onClick={() =>
                            renewInvitation.mutate(
                              { id: i.id, deliver: 'link' },
                              {
                                onSuccess: ({ link }) => {
                                  if (!link) return;
                                  const note = (copied: boolean) =>
                                    setInvitationNote({
                                      email: i.email,
                                      link,
                                      text: `${copied ? 'Copied a new link' : 'A new link'} for ${i.email}, valid for 7 days; the earlier link no longer works. Pass it on yourself.`,
                                    });
                                  // The clipboard may be refused (no permission, no secure context): the link is shown either way.
                                  if (!navigator.clipboard) return note(false);
                                  navigator.clipboard.writeText(link).then(
                                    () => note(true),
                                    () => note(false),
                                  );
                                },
                              },
                            )
                          }
                        >
                          Copy link
                        </Button>
                        <ConfirmButton
                          variant="ghost"
                          aria-label={`Revoke the invitation to ${i.email}`}
                          title={`Revoke the invitation to ${i.email}?`}
                          description="Its link stops working at once. You can invite them again later."
                          confirmLabel="Revoke invitation"
                          onConfirm={() => revokeInvitation.mutate({ id: i.id }, { onSuccess: () => setInvitationNote(undefined) })}
                        >
                          Revoke
                        </ConfirmButton>
                      </span>
                    )}
                  </li>
                ))}
              </ul>
              {invitationNote && (
                <div role="status" className="mt-2 flex flex-col gap-1 text-sm text-emerald-800">
                  <p>{invitationNote.text}</p>
                  {invitationNote.link && (
                    <input
                      readOnly
                      aria-label={`Invitation link for ${invitationNote.email}`}
                      value={invitationNote.link}
                      onFocus={(e) => e.currentTarget.select()}
                      className="w-full rounded border border-slate-300 bg-slate-50 px-2 py-1 font-mono text-xs text-slate-800"
                    />
                  )}
                </div>
              )}
            </Card>
          )}
        </>
      )}
      {readsOutbox && <TeamOutbox />}
      <ApiTokens canEdit={canEdit} />
      {canEdit && <SsoSettings />}
    </div>
  );
}
