'use client';

// The signed-in person's sessions: where they are signed in, and a way to sign out everywhere else.
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Badge, Button, Card, ErrorNote, Spinner, Table } from '~/components/ui';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function Account() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const sessions = useQuery(trpc.account.sessions.queryOptions());
  const signOutOthers = useMutation({
    ...trpc.account.signOutOthers.mutationOptions(),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.account.sessions.queryKey() }),
  });
  const others = sessions.data?.filter((s) => !s.current).length ?? 0;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Account</h1>
      <Card
        title="Your sessions"
        actions={
          others > 0 && (
            <Button variant="secondary" busy={signOutOthers.isPending} onClick={() => signOutOthers.mutate()}>
              Sign out other sessions
            </Button>
          )
        }
      >
        {(sessions.error ?? signOutOthers.error) && <ErrorNote>{errorMessage(sessions.error ?? signOutOthers.error)}</ErrorNote>}
        {signOutOthers.data && (
          <p role="status" className="mb-2 text-sm text-emerald-800">
            Signed out {signOutOthers.data.signedOut} other session{signOutOthers.data.signedOut === 1 ? '' : 's'}.
          </p>
        )}
        {!sessions.data ? (
          <Spinner label="Loading sessions…" />
        ) : (
          <Table caption="Active sessions" head={['Device', 'Address', 'Last active', 'Signed in']}>
            {sessions.data.map((s) => (
              <tr key={s.id}>
                <td className="px-3 py-2 text-xs">
                  {s.current && <Badge tone="green">this browser</Badge>}{' '}
                  <span className="break-all">{s.userAgent ?? 'unknown device'}</span>
                </td>
                <td className="px-3 py-2 font-mono text-xs">{s.ipAddress ?? 'unknown'}</td>
                <td className="whitespace-nowrap px-3 py-2 text-xs">
                  {s.lastActiveAt ? new Date(s.lastActiveAt).toLocaleString() : 'not since sign-in'}
                </td>
                <td className="whitespace-nowrap px-3 py-2 text-xs">{new Date(s.createdAt).toLocaleString()}</td>
              </tr>
            ))}
          </Table>
        )}
      </Card>
    </div>
  );
}
