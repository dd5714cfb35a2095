'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { AddNode } from '~/components/add-node';
import { useCanEdit } from '~/components/app-shell';
import { Badge, Card, EmptyState, ErrorNote, Spinner, Table } from '~/components/ui';
import { ago } from '~/lib/format';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function Fleet() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const q = useQuery({ ...trpc.nodes.list.queryOptions(), refetchInterval: 10_000 });
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Fleet</h1>
      {canEdit && (
        <Card title="Add a node">
          <AddNode />
        </Card>
      )}
      {q.isPending && <Spinner label="Loading nodes…" />}
      {q.error && <ErrorNote>{errorMessage(q.error)}</ErrorNote>}
      {q.data?.length === 0 && <EmptyState title="No nodes yet">Add a node: run the agent command on a balancer or backend host. It appears here as soon as it connects.</EmptyState>}
      {q.data && q.data.length > 0 && (
        <Table caption="Nodes" head={['Node', 'Role', 'Status', 'Last seen', 'Agent', 'Kernel', 'Applied / desired', 'Last error']}>
          {q.data.map((n) => {
            const caps = n.capabilities as { tunnels?: string[]; nftVersion?: string | null; kernel?: string };
            return (
              <tr key={n.id}>
                <td className="px-3 py-2 font-medium">
                  <Link className="underline" href={`/app/fleet/${n.id}`}>
                    {n.name}
                  </Link>
                </td>
                <td className="px-3 py-2">{n.role}</td>
                <td className="px-3 py-2">
                  {n.revokedAt ? <Badge tone="red">revoked</Badge> : <Badge tone={n.online ? 'green' : 'slate'}>{n.online ? 'online' : 'offline'}</Badge>}
                </td>
                <td className="px-3 py-2">{ago(n.lastSeenAt)}</td>
                <td className="px-3 py-2">{n.agentVersion ?? '-'}</td>
                <td className="px-3 py-2 text-xs">
                  {caps.kernel ?? '-'}
                  {caps.tunnels && <div className="text-slate-500">tunnels: {caps.tunnels.join(', ') || 'none'}</div>}
                </td>
                <td className="px-3 py-2">
                  <Badge tone={n.inSync ? 'green' : 'amber'}>
                    {n.appliedVersion ?? '-'} / {n.desiredVersion}
                  </Badge>
                </td>
                <td className="max-w-xs truncate px-3 py-2 text-xs text-red-800" title={n.lastError ?? ''}>
                  {n.lastError ?? ''}
                </td>
              </tr>
            );
          })}
        </Table>
      )}
    </div>
  );
}
