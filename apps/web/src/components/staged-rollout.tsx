'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { errorMessage, useTRPC } from '~/trpc/client';
import { ConfirmButton } from './confirm-button';
import { Badge, Button, Card, ErrorNote, Table } from './ui';

const tone = { running: 'blue', paused: 'amber', completed: 'green', aborted: 'slate', rolled_back: 'red' } as const;
const label = { running: 'rolling out', paused: 'paused', completed: 'completed', aborted: 'aborted', rolled_back: 'rolled back' } as const;

/** The service's latest staged rollout, live: which balancer runs which revision, the time left in the hold, and pause, resume, abort. */
export function StagedRollout({ serviceId, canEdit }: { serviceId: string; canEdit: boolean }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const q = useQuery({
    ...trpc.rollouts.get.queryOptions({ serviceId }),
    refetchInterval: (query) => (query.state.data?.status === 'running' || query.state.data?.status === 'paused' ? 1000 : 10_000),
  });
  const settled = {
    onSettled: () =>
      queryClient
        .invalidateQueries({ queryKey: trpc.rollouts.pathKey() })
        .then(() => queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() })),
  };
  const pause = useMutation(trpc.rollouts.pause.mutationOptions(settled));
  const resume = useMutation(trpc.rollouts.resume.mutationOptions(settled));
  const abort = useMutation(trpc.rollouts.abort.mutationOptions(settled));
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const r = q.data;
  if (!r) return null;
  const active = r.status === 'running' || r.status === 'paused';
  const left = r.holdUntil ? Math.max(0, Math.ceil((new Date(r.holdUntil).getTime() - now) / 1000)) : null;
  const error = pause.error ?? resume.error ?? abort.error;
  return (
    <Card
      title={`Staged rollout of revision ${r.toRevision}`}
      actions={
        canEdit &&
        active && (
          <div className="flex flex-wrap gap-2">
            {r.status === 'running' ? (
              <Button variant="secondary" busy={pause.isPending} onClick={() => pause.mutate({ serviceId })}>
                Pause
              </Button>
            ) : (
              <Button variant="secondary" busy={resume.isPending} onClick={() => resume.mutate({ serviceId })}>
                Resume
              </Button>
            )}
            <ConfirmButton
              title="Abort the rollout?"
              description={`Every balancer returns to revision ${r.fromRevision}.`}
              confirmLabel="Abort the rollout"
              busy={abort.isPending}
              onConfirm={() => abort.mutate({ serviceId })}
            >
              Abort
            </ConfirmButton>
          </div>
        )
      }
    >
      <div className="flex flex-col gap-3" data-testid="staged-rollout">
        {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
        <p className="text-sm">
          <Badge tone={tone[r.status]}>{label[r.status]}</Badge>{' '}
          {active &&
            (left === null
              ? `Batch ${r.batch + 1} of ${r.batches} is applying revision ${r.toRevision}.`
              : r.status === 'paused'
                ? `Batch ${r.batch + 1} of ${r.batches} is held until resumed.`
                : `Batch ${r.batch + 1} of ${r.batches} holds for ${left} s more.`)}
          {r.status === 'completed' && `Every balancer runs revision ${r.toRevision}.`}
        </p>
        {r.reason && (
          <p className={r.status === 'rolled_back' ? 'text-sm font-medium text-red-800' : 'text-sm'} data-testid="rollout-reason">
            {r.status === 'rolled_back' ? `Rolled back to revision ${r.fromRevision}: ${r.reason}` : r.reason}
          </p>
        )}
        <Table caption="Balancers of the rollout" head={['Balancer', 'Batch', 'Revision', 'Applied']}>
          {r.nodes.map((n) => (
            <tr key={n.nodeId}>
              <td className="px-3 py-2">{n.name}</td>
              <td className="px-3 py-2">{n.batch === 0 ? 'canary' : n.batch + 1}</td>
              <td className="px-3 py-2">{n.revision}</td>
              <td className="px-3 py-2">{n.error ? <span className="text-red-800">{n.error}</span> : n.applied ? 'yes' : 'not yet'}</td>
            </tr>
          ))}
        </Table>
      </div>
    </Card>
  );
}
