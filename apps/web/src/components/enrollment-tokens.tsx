'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { errorMessage, useTRPC } from '~/trpc/client';
import { Button, Card, ErrorNote, Table } from './ui';

/** Enrollment tokens that can still enroll a node: expiry, uses left, and revoke. */
export function EnrollmentTokens({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery({ ...trpc.tokens.list.queryOptions(), refetchInterval: 10_000 });
  const revoke = useMutation({
    ...trpc.tokens.revoke.mutationOptions(),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.tokens.list.queryKey() }),
  });
  const outstanding = tokens.data?.filter((t) => t.usable) ?? [];
  if (tokens.error) return <ErrorNote>{errorMessage(tokens.error)}</ErrorNote>;
  if (outstanding.length === 0) return null;
  return (
    <Card title="Outstanding enrollment tokens">
      {revoke.error && <ErrorNote>{errorMessage(revoke.error)}</ErrorNote>}
      <Table caption="Enrollment tokens that can still enroll a node" head={['Token', 'Note', 'Uses left', 'Expires', 'Enrolled', '']}>
        {outstanding.map((t) => (
          <tr key={t.id} data-testid="enrollment-token">
            <td className="px-3 py-2 font-mono text-xs">{t.prefix}…</td>
            <td className="px-3 py-2">{t.description || '—'}</td>
            <td className="px-3 py-2">
              {t.usesLeft} of {t.maxUses}
            </td>
            <td className="px-3 py-2">{new Date(t.expiresAt).toLocaleString()}</td>
            <td className="px-3 py-2">{t.nodes.map((n) => n.name).join(', ') || '—'}</td>
            <td className="px-3 py-2 text-right">
              {canEdit && (
                <Button variant="secondary" busy={revoke.isPending && revoke.variables?.id === t.id} onClick={() => revoke.mutate({ id: t.id })}>
                  Revoke
                </Button>
              )}
            </td>
          </tr>
        ))}
      </Table>
    </Card>
  );
}
