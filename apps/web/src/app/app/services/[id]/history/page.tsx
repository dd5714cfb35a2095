'use client';

import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { use } from 'react';
import { useCanEdit } from '~/components/app-shell';
import { ServiceChanges } from '~/components/service-changes';
import { ServiceTabs } from '~/components/service-tabs';
import { Badge, Button, Card, ErrorNote, Spinner } from '~/components/ui';
import { ConfirmButton } from '~/components/confirm-button';
import { errorMessage, useTRPC } from '~/trpc/client';
import { actionLabel } from '@tula/validators';
import { LoadError } from '~/components/load-error';

const ACTIONS: Record<string, string> = {
  'service.create': 'created',
  'service.update': 'edited',
  'service.rollback': 'rolled back',
  'service.import': 'recorded when revisions were introduced',
  'backend.drain': 'backend drained',
  'backend.disable': 'backend disabled',
  'backend.activate': 'backend activated',
  'backend.weight': 'backend weight set',
  'rollout.rolled_back': 'rolled back',
};

export default function ServiceHistory({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const queryClient = useQueryClient();
  const service = useQuery(trpc.services.get.queryOptions({ id }));
  const history = useInfiniteQuery(
    trpc.services.history.infiniteQueryOptions({ id, limit: 20 }, { getNextPageParam: (p) => p.nextCursor }),
  );
  const items = history.data?.pages.flatMap((p) => p.items) ?? [];
  const latest = items[0]?.number;
  const rollback = useMutation(
    trpc.services.rollback.mutationOptions({
      onSuccess: async () => {
        await queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
        await queryClient.invalidateQueries({ queryKey: trpc.audit.pathKey() });
      },
    }),
  );
  return (
    <div className="flex flex-col gap-5">
      <h1 className="text-2xl font-semibold">{service.data?.name ?? 'Service'}</h1>
      <ServiceTabs id={id} current="history" />
      <LoadError query={service} what="this service" />
      <LoadError query={history} what="the revisions" />
      {rollback.error && <ErrorNote>{errorMessage(rollback.error)}</ErrorNote>}
      {history.isPending && <Spinner label="Loading revisions…" />}
      <ol className="flex flex-col gap-3" aria-label="Revisions">
        {items.map((r) => (
          <li key={r.number} data-testid={`revision-${r.number}`}>
            <Card
              title={
                <span className="flex flex-wrap items-center gap-2">
                  Revision {r.number}
                  {r.number === latest && <Badge tone="green">current</Badge>}
                  {r.restoredNumber !== null && <Badge tone="blue">restores revision {r.restoredNumber}</Badge>}
                </span>
              }
              actions={
                canEdit &&
                r.number !== latest &&
                r.document !== null && (
                  <ConfirmButton
                    variant="secondary"
                    confirmVariant="primary"
                    className="px-2 py-1 text-xs"
                    busy={rollback.isPending && rollback.variables?.number === r.number}
                    title={`Roll back ${r.document.name} to revision ${r.number}?`}
                    description="This saves a new revision equal to it and pushes it to the nodes."
                    confirmLabel={`Roll back to revision ${r.number}`}
                    onConfirm={() => rollback.mutate({ id, number: r.number, ...(latest !== undefined && { baseRevision: latest }) })}
                  >
                    Roll back to this revision
                  </ConfirmButton>
                )
              }
            >
              <p className="mb-2 text-xs text-slate-600">
                {ACTIONS[r.action] ?? actionLabel(r.action)} by {r.actorLabel} ·{' '}
                <time dateTime={new Date(r.createdAt).toISOString()}>{new Date(r.createdAt).toLocaleString()}</time>
              </p>
              <ServiceChanges changes={r.changes} label={`Changes in revision ${r.number}`} />
            </Card>
          </li>
        ))}
      </ol>
      {history.hasNextPage && (
        <div>
          <Button variant="secondary" busy={history.isFetchingNextPage} onClick={() => history.fetchNextPage()}>
            Older revisions
          </Button>
        </div>
      )}
    </div>
  );
}
