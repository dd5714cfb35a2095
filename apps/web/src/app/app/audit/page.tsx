'use client';

import { useInfiniteQuery } from '@tanstack/react-query';
import { Button, EmptyState, ErrorNote, Spinner, Table } from '~/components/ui';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function Audit() {
  const trpc = useTRPC();
  const q = useInfiniteQuery(trpc.audit.list.infiniteQueryOptions({ limit: 50 }, { getNextPageParam: (p) => p.nextCursor }));
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Audit log</h1>
      {q.isPending && <Spinner label="Loading events…" />}
      {q.error && <ErrorNote>{errorMessage(q.error)}</ErrorNote>}
      {!q.isPending && items.length === 0 && <EmptyState title="Nothing yet">Every change to services, nodes, tokens and members is recorded here.</EmptyState>}
      {items.length > 0 && (
        <Table caption="Audit events" head={['When', 'Who', 'What', 'Target', 'Details']}>
          {items.map((e) => (
            <tr key={e.id}>
              <td className="whitespace-nowrap px-3 py-2 text-xs">{new Date(e.createdAt).toLocaleString()}</td>
              <td className="px-3 py-2">{e.actorLabel}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.action}</td>
              <td className="px-3 py-2 text-xs">
                {e.targetType} {e.targetId && <span className="text-slate-500">{e.targetId}</span>}
              </td>
              <td className="max-w-sm truncate px-3 py-2 font-mono text-xs text-slate-600">{JSON.stringify(e.data)}</td>
            </tr>
          ))}
        </Table>
      )}
      {q.hasNextPage && (
        <div>
          <Button variant="secondary" busy={q.isFetchingNextPage} onClick={() => q.fetchNextPage()}>
            Older events
          </Button>
        </div>
      )}
    </div>
  );
}
