'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { errorMessage, useTRPC } from '~/trpc/client';
import { TokenTable } from './token-table';
import { Card, ErrorNote } from './ui';
import { LoadError } from './load-error';

/** Enrollment tokens that can still enroll a node: expiry, uses left, and revoke. */
export function EnrollmentTokens({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const tokens = useQuery({ ...trpc.tokens.list.queryOptions(), refetchInterval: 10_000 });
  const revoke = useMutation({
    ...trpc.tokens.revoke.mutationOptions(),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: trpc.tokens.list.queryKey() }),
  });
  if (!tokens.data) return tokens.error ? <LoadError query={tokens} what="the enrollment tokens" everySeconds={10} /> : null;
  const outstanding = tokens.data.filter((t) => t.usable);
  if (outstanding.length === 0) return null;
  return (
    <Card title="Outstanding enrollment tokens">
      <LoadError query={tokens} what="the enrollment tokens" everySeconds={10} />
      {revoke.error && <ErrorNote>{errorMessage(revoke.error)}</ErrorNote>}
      <TokenTable
        caption="Enrollment tokens that can still enroll a node"
        tokens={outstanding}
        rowTestId="enrollment-token"
        columns={[
          { head: 'Token', cell: (t) => `${t.prefix}…`, className: 'px-3 py-2 font-mono text-xs' },
          { head: 'Note', cell: (t) => t.description || '—' },
          { head: 'Uses left', cell: (t) => `${t.usesLeft} of ${t.maxUses}` },
          { head: 'Expires', cell: (t) => new Date(t.expiresAt).toLocaleString() },
          { head: 'Enrolled', cell: (t) => t.nodes.map((n) => n.name).join(', ') || '—' },
        ]}
        revoke={
          canEdit
            ? {
                name: (t) => `the enrollment token ${t.prefix}…`,
                label: (t) => `${t.prefix}…`,
                description: 'Nodes can no longer enroll with it. Nodes it already enrolled stay.',
                onRevoke: (t) => revoke.mutate({ id: t.id }),
                busy: (t) => revoke.isPending && revoke.variables?.id === t.id,
              }
            : undefined
        }
      />
    </Card>
  );
}
