'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ServiceInput, toServiceInput } from '@tula/validators';
import { errorMessage, useTRPC } from '~/trpc/client';
import { Badge, Button, Card, ErrorNote } from './ui';

/** Controls of the local lab (only in the lab's demo organisation): break things and watch. */
export function LabControls() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const lab = useQuery({ ...trpc.lab.status.queryOptions(), refetchInterval: 5000 });
  const services = useQuery(trpc.services.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
  const serve = useMutation({ ...trpc.lab.setBackendServing.mutationOptions(), onSuccess: () => lab.refetch() });
  const setState = useMutation({ ...trpc.services.setBackendState.mutationOptions(), onSuccess: refresh });
  const update = useMutation({ ...trpc.services.update.mutationOptions(), onSuccess: refresh });
  if (!lab.data) return null;
  const web = services.data?.find((s) => s.name === 'lab-web');
  const error = serve.error ?? setState.error ?? update.error;
  return (
    <div data-testid="lab-controls">
      <Card
        title={
          <span className="flex items-center gap-2">
            Local lab <Badge tone="amber">lab only</Badge>
          </span>
        }
      >
        <p className="mb-3 text-sm text-slate-600">
          Namespaces on this machine: a client sending {lab.data.traffic ? 'traffic (small requests, large responses)' : 'no traffic'}, a balancer and three backends.
          Break something and watch the charts and the health timeline.
        </p>
        {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
        <ul className="flex flex-col gap-2">
          {lab.data.backends.map((b) => {
            const backend = web?.backends.find((x) => x.address === b.address);
            return (
              <li key={b.name} className="flex flex-wrap items-center gap-2 text-sm">
                <span className="w-28 font-mono">{b.name} {b.address}</span>
                <Badge tone={b.serving ? 'green' : 'red'}>{b.serving ? 'serving' : 'stopped'}</Badge>
                {backend && <Badge tone={backend.state === 'active' ? 'green' : 'amber'}>{backend.state}</Badge>}
                <Button variant="secondary" className="px-2 py-1 text-xs" busy={serve.isPending && serve.variables?.backend === b.name} onClick={() => serve.mutate({ backend: b.name, serving: !b.serving })}>
                  {b.serving ? 'Stop its server' : 'Start its server'}
                </Button>
                {web && backend && (
                  <Button
                    variant="secondary"
                    className="px-2 py-1 text-xs"
                    onClick={() => setState.mutate({ serviceId: web.id, address: b.address, state: backend.state === 'draining' ? 'active' : 'draining' })}
                  >
                    {backend.state === 'draining' ? 'Activate' : 'Drain'}
                  </Button>
                )}
              </li>
            );
          })}
        </ul>
        {web && (
          <div className="mt-3 flex flex-wrap items-center gap-2 text-sm">
            <span>
              lab-web runs in <strong>{web.mode === 'l2' ? 'L2 (MAC rewrite)' : 'L3 (VXLAN tunnel)'}</strong> mode.
            </span>
            <Button
              variant="secondary"
              className="px-2 py-1 text-xs"
              busy={update.isPending}
              onClick={() =>
                update.mutate({
                  id: web.id,
                  service: ServiceInput.parse({
                    ...toServiceInput({ ...web, balancerNodeIds: web.balancers.map((b) => b.node.id) }),
                    mode: web.mode === 'l2' ? 'l3' : 'l2',
                    tunnel: 'vxlan',
                  }),
                })
              }
            >
              Switch to {web.mode === 'l2' ? 'L3' : 'L2'}
            </Button>
          </div>
        )}
      </Card>
    </div>
  );
}
