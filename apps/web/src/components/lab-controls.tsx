'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ServiceInput, toServiceInput } from '@tula/validators';
import { errorMessage, useTRPC } from '~/trpc/client';
import { Badge, Button, Card, ErrorNote } from './ui';

/** Controls of the local lab (only in the lab's demo organisation): break things and watch. */
export function LabControls() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const lab = useQuery({ ...trpc.lab.status.queryOptions(), refetchInterval: 2000 });
  const services = useQuery(trpc.services.list.queryOptions());
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
  const serve = useMutation({ ...trpc.lab.setBackendServing.mutationOptions(), onSuccess: () => lab.refetch() });
  const life = useMutation({ ...trpc.lab.setBalancerAlive.mutationOptions(), onSuccess: () => lab.refetch() });
  const setState = useMutation({ ...trpc.services.setBackendState.mutationOptions(), onSuccess: refresh });
  const update = useMutation({ ...trpc.services.update.mutationOptions(), onSuccess: refresh });
  const alerts = useQuery({ ...trpc.alerts.list.queryOptions({ unacknowledged: true, limit: 3 }), refetchInterval: 3000 });
  if (!lab.data) return null;
  const web = services.data?.find((s) => s.name === 'lab-web');
  const error = serve.error ?? life.error ?? setState.error ?? update.error;
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
          Namespaces on this machine: a client sending {lab.data.traffic ? 'traffic (small requests, large responses)' : 'no traffic'}, a
          router running BGP with ECMP, two balancers announcing the VIP and sharing its flows, and three backends. Break something and
          watch the charts and the health timeline.
        </p>
        {error && <ErrorNote>{errorMessage(error)}</ErrorNote>}
        {/* Not a list: the backend rows below are list items found by name ("b2 "), which "lb2 " would match too. */}
        <div className="mb-3 flex flex-col gap-2" role="group" aria-label="Lab balancers">
          {lab.data.balancers.map((b) => {
            const now = b.traffic.at(-1)?.packetsPerSecond ?? 0;
            return (
              <div key={b.name} className="flex flex-wrap items-center gap-2 text-sm" data-testid={`lab-balancer-${b.name}`}>
                <LabHostName name={b.name} address={b.address} />
                <Badge tone={b.alive ? 'green' : 'red'}>{b.alive ? 'alive' : 'killed'}</Badge>
                <Badge tone={b.routed ? 'green' : 'slate'}>{b.routed ? 'router sends it flows' : 'not routed'}</Badge>
                <TrafficSparkline
                  points={b.traffic.map((p) => p.packetsPerSecond)}
                  label={`${b.name} packets per second, last two minutes`}
                />
                <span className="w-24 tabular-nums" data-testid={`lab-balancer-${b.name}-rate`} data-rate={now}>
                  {now} pkt/s in
                </span>
                <Button
                  {...SMALL_BUTTON}
                  busy={life.isPending && life.variables?.balancer === b.name}
                  onClick={() => life.mutate({ balancer: b.name, alive: !b.alive })}
                >
                  {b.alive ? 'Kill it (host death)' : 'Bring it back'}
                </Button>
              </div>
            );
          })}
        </div>
        <ul className="flex flex-col gap-2">
          {lab.data.backends.map((b) => {
            const backend = web?.backends.find((x) => x.address === b.address);
            return (
              <li key={b.name} className="flex flex-wrap items-center gap-2 text-sm">
                <LabHostName name={b.name} address={b.address} />
                <Badge tone={b.serving ? 'green' : 'red'}>{b.serving ? 'serving' : 'stopped'}</Badge>
                {backend && <Badge tone={backend.state === 'active' ? 'green' : 'amber'}>{backend.state}</Badge>}
                <Button
                  {...SMALL_BUTTON}
                  busy={serve.isPending && serve.variables?.backend === b.name}
                  onClick={() => serve.mutate({ backend: b.name, serving: !b.serving })}
                >
                  {b.serving ? 'Stop its server' : 'Start its server'}
                </Button>
                {web && backend && (
                  <Button
                    {...SMALL_BUTTON}
                    onClick={() =>
                      setState.mutate({
                        serviceId: web.id,
                        address: b.address,
                        state: backend.state === 'draining' ? 'active' : 'draining',
                      })
                    }
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
              {...SMALL_BUTTON}
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
            <Button
              {...SMALL_BUTTON}
              busy={update.isPending}
              onClick={() =>
                // A harmless change (the first backend's weight 1 <-> 2), staged: the service page shows it live.
                update.mutate(
                  {
                    id: web.id,
                    service: ServiceInput.parse(
                      ((input) => ({
                        ...input,
                        backends: (input.backends ?? []).map((b, i) => (i === 0 ? { ...b, weight: b.weight === 1 ? 2 : 1 } : b)),
                      }))(toServiceInput({ ...web, balancerNodeIds: web.balancers.map((b) => b.node.id) })),
                    ),
                    staged: { holdSeconds: 30, batchSize: 1 },
                  },
                  { onSuccess: () => (window.location.href = `/app/services/${web.id}`) },
                )
              }
            >
              Make a staged change
            </Button>
          </div>
        )}
        <p className="mt-3 text-sm text-slate-600" data-testid="lab-alerts">
          Stopping a backend&apos;s server raises an alert (and its recovery another):{' '}
          <a className="underline" href="/app/alerts">
            {alerts.data ? `${alerts.data.unacknowledged} alert${alerts.data.unacknowledged === 1 ? '' : 's'} to acknowledge` : 'alerts'}
          </a>
          {alerts.data?.items[0] && <span>; latest: {alerts.data.items[0].title}</span>}
        </p>
      </Card>
    </div>
  );
}

/** A small line of a balancer's packets per second (one point a second), scaled to its own peak. */
function TrafficSparkline({ points, label }: { points: number[]; label: string }) {
  const width = 120;
  const height = 24;
  const peak = Math.max(1, ...points);
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const path = points.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / peak) * (height - 2) - 1).toFixed(1)}`).join(' ');
  return (
    <svg role="img" aria-label={label} width={width} height={height} className="text-sky-600">
      {points.length > 1 && <polyline points={path} fill="none" stroke="currentColor" strokeWidth="1.5" />}
    </svg>
  );
}

/** The lab rows' buttons: small, secondary. */
const SMALL_BUTTON = { variant: 'secondary', className: 'px-2 py-1 text-xs' } as const;

function LabHostName({ name, address }: { name: string; address: string }) {
  return (
    <span className="w-28 font-mono">
      {name} {address}
    </span>
  );
}
