'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { use } from 'react';
import { useCanEdit } from '~/components/app-shell';
import { DsrCharts, HealthTimeline } from '~/components/charts';
import { BackendTraffic } from '~/components/backend-traffic';
import { BackendHealthList, RolloutBadge, ServiceHealthBadge, WarningList } from '~/components/health';
import { LoadError } from '~/components/load-error';
import { ServiceTabs } from '~/components/service-tabs';
import { StagedRollout } from '~/components/staged-rollout';
import { Badge, Button, Card, ErrorNote, LinkButton, Spinner, Table } from '~/components/ui';
import { ConfirmButton } from '~/components/confirm-button';
import { reportTimes } from '~/lib/format';
import { errorMessage, useTRPC } from '~/trpc/client';

export default function ServiceDetail({ params }: { params: Promise<{ id: string }> }) {
  const { id } = use(params);
  const trpc = useTRPC();
  const router = useRouter();
  const canEdit = useCanEdit();
  const queryClient = useQueryClient();
  const q = useQuery({ ...trpc.services.get.queryOptions({ id }), refetchInterval: 3000 });
  const key = trpc.services.get.queryKey({ id });
  const setState = useMutation(
    trpc.services.setBackendState.mutationOptions({
      // Optimistic: the row changes at once, and goes back if the API refuses.
      onMutate: async (v) => {
        await queryClient.cancelQueries({ queryKey: key });
        const before = queryClient.getQueryData(key);
        queryClient.setQueryData(
          key,
          (old) => old && { ...old, backends: old.backends.map((b) => (b.address === v.address ? { ...b, state: v.state } : b)) },
        );
        return { before };
      },
      onError: (_e, _v, ctx) => queryClient.setQueryData(key, ctx?.before),
      onSettled: () => queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() }),
    }),
  );
  const remove = useMutation({
    ...trpc.services.delete.mutationOptions(),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: trpc.services.pathKey() });
      router.push('/app/services');
    },
  });
  // A failed refresh (every 3 s) keeps what was loaded on the page, with a note: replacing the page would
  // unmount the live chart, whose stream then starts afresh without its cursor and loses what came meanwhile.
  if (!q.data) return q.error ? <LoadError query={q} what="this service" everySeconds={3} /> : <Spinner label="Loading the service…" />;
  const s = q.data;
  const port = s.portStart === s.portEnd ? `${s.portStart}` : `${s.portStart}-${s.portEnd}`;
  return (
    <div className="flex flex-col gap-5">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h1 className="text-2xl font-semibold">{s.name}</h1>
          <p className="font-mono text-sm text-slate-600">
            {s.vip} {s.protocol}/{port} · {s.mode === 'nat' ? 'NAT (not DSR)' : s.mode === 'l2' ? 'L2 DSR' : `L3 DSR over ${s.tunnel}`}
          </p>
        </div>
        {canEdit && (
          <div className="flex gap-2">
            <LinkButton href={`/app/services/${id}/edit`} variant="secondary">
              Edit
            </LinkButton>
            <ConfirmButton
              busy={remove.isPending}
              title={`Delete ${s.name}?`}
              description="Its balancers stop forwarding its VIP. Its revisions and audit entries stay."
              confirmLabel={`Delete ${s.name}`}
              onConfirm={() => remove.mutate({ id })}
            >
              Delete
            </ConfirmButton>
          </div>
        )}
      </div>
      <LoadError query={q} what="this service" everySeconds={3} />
      <ServiceTabs id={id} current="overview" />
      {(setState.error || remove.error) && <ErrorNote>{errorMessage(setState.error ?? remove.error)}</ErrorNote>}

      <StagedRollout serviceId={id} canEdit={canEdit} />

      <Card title="Health now">
        <p className="text-sm">
          <ServiceHealthBadge health={s.health} />
        </p>
        {s.health.warnings.length > 0 && (
          <div className="mt-2">
            <WarningList warnings={s.health.warnings.map((w, i) => ({ key: `${w.nodeId}-${i}`, node: w.node, message: w.message }))} />
          </div>
        )}
        {s.health.staleWarnings.length > 0 && (
          <div className="mt-2">
            <WarningList
              stale
              warnings={s.health.staleWarnings.map((w, i) => ({
                key: `${w.nodeId}-${i}`,
                node: w.node,
                message: w.message,
                from: `node offline; ${reportTimes({ statusAt: w.reportedAt, lastSeenAt: w.lastSeenAt })}`,
              }))}
            />
          </div>
        )}
      </Card>

      <Card title="Rollout">
        <p className="text-sm" data-testid="rollout">
          <RolloutBadge service={s} long /> {s.rollout.applied} of {s.rollout.nodes} nodes run the current version
          {s.rollout.offline > 0
            ? `; ${s.rollout.offline} offline, so what ${s.rollout.offline === 1 ? 'it runs is' : 'they run is'} known only from ${s.rollout.offline === 1 ? 'its' : 'their'} last status report.`
            : '.'}
        </p>
        {s.rollout.errors.length > 0 && (
          <ul className="mt-2 flex flex-col gap-1 text-sm text-red-800">
            {s.rollout.errors.map((e) => (
              <li key={e.nodeId}>
                <strong>{e.node}</strong>: {e.error}
              </li>
            ))}
          </ul>
        )}
      </Card>

      <Card title="Balancers">
        <Table caption="Balancers serving this service" head={['Balancer', 'State', 'Announces the VIP now']}>
          {s.balancers.map(({ node, announce, reach }) => (
            <tr key={node.id} data-testid={`balancer-${node.name}`}>
              <td className="px-3 py-2">
                <a className="underline" href={`/app/fleet/${node.id}`}>
                  {node.name}
                </a>
              </td>
              <td className="px-3 py-2">
                <Badge tone={node.drain === 'active' ? 'green' : node.drain === 'draining' ? 'amber' : 'blue'}>{node.drain}</Badge>
              </td>
              <td className="px-3 py-2">
                {!node.online ? (
                  <span className="text-slate-600" data-testid="vip-reach-stale">
                    <Badge tone="slate">unknown: node offline</Badge>{' '}
                    <span className="text-xs">
                      {announce
                        ? `${reportTimes(node)}; that report said: ${
                            announce.via === 'vrrp'
                              ? announce.owner
                                ? 'owns the VIP (VRRP MASTER)'
                                : 'does not own the VIP'
                              : announce.announced
                                ? `announcing (BGP), ${announce.peersEstablished} of ${announce.peers} peers established`
                                : `withdrawn: ${announce.reason}`
                          }`
                        : reportTimes(node)}
                    </span>
                  </span>
                ) : !announce ? (
                  <span className="text-slate-600" data-testid="vip-reach" data-reach={reach}>
                    {reach === 'arp'
                      ? 'answers ARP for the VIP: the only L2 balancer, so it owns the VIP (no VRRP needed)'
                      : reach === 'arp-shared'
                        ? 'answers ARP for the VIP, as the other balancers do: set VRRP on the node page so one owns it at a time'
                        : 'not announced: your router needs a route to the VIP via this balancer (set BGP on the node page, or a static route)'}
                  </span>
                ) : announce.via === 'vrrp' ? (
                  <Badge tone={announce.owner ? 'green' : 'slate'}>
                    {announce.owner
                      ? 'owns the VIP (VRRP MASTER)'
                      : announce.announced
                        ? 'standby (VRRP BACKUP)'
                        : `withdrawn: ${announce.reason}`}
                  </Badge>
                ) : (
                  <>
                    <Badge tone={announce.announced && announce.peersEstablished ? 'green' : 'amber'}>
                      {announce.announced ? 'announcing (BGP)' : `withdrawn: ${announce.reason}`}
                    </Badge>{' '}
                    <span className="text-xs text-slate-600">
                      {announce.peersEstablished} of {announce.peers} peers established
                    </span>
                  </>
                )}
              </td>
            </tr>
          ))}
        </Table>
        {s.balancers.length === 0 && <p className="mt-2 text-sm text-slate-600">No balancer serves this service: edit it and pick one.</p>}
      </Card>

      <DsrCharts serviceId={id} vip={s.vip} title={s.name} vipSharedWith={s.vipSharedWith} nat={s.mode === 'nat'} />

      <BackendTraffic serviceId={id} />

      <Card title="Backends">
        <Table caption="Backends" head={['Address', 'Health now', 'Weight', 'State', 'Actions']}>
          {s.backends.map((b) => (
            <tr key={b.id} data-testid={`backend-${b.address}`}>
              <td className="px-3 py-2 font-mono text-xs">
                {b.port === null ? b.address : b.address.includes(':') ? `[${b.address}]:${b.port}` : `${b.address}:${b.port}`}
              </td>
              <td className="min-w-48 px-3 py-2">
                <BackendHealthList health={b.health} />
              </td>
              <td className="px-3 py-2">{b.weight}</td>
              <td className="px-3 py-2">
                <Badge tone={b.state === 'active' ? 'blue' : b.state === 'draining' ? 'amber' : 'slate'}>{b.state}</Badge>
              </td>
              <td className="flex flex-wrap gap-2 px-3 py-2">
                {canEdit &&
                  (['active', 'draining', 'disabled'] as const)
                    .filter((st) => st !== b.state)
                    .map((st) => (
                      <Button
                        key={st}
                        variant="secondary"
                        className="px-2 py-1 text-xs"
                        onClick={() => setState.mutate({ serviceId: id, address: b.address, state: st })}
                      >
                        {st === 'active' ? 'Activate' : st === 'draining' ? 'Drain' : 'Disable'}
                      </Button>
                    ))}
              </td>
            </tr>
          ))}
        </Table>
        <p className="mt-2 text-xs text-slate-500">
          Drain: no new flows, established ones continue until they end or {s.drainTimeoutS} s pass. Disable: no traffic at all.
        </p>
      </Card>

      <Card title="Backend health">
        <HealthTimeline serviceId={id} />
      </Card>
    </div>
  );
}
