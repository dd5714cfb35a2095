'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useCanEdit } from '~/components/app-shell';
import { RolloutBadge, ServiceHealthBadge } from '~/components/health';
import { Badge, EmptyState, LinkButton, Spinner, Table } from '~/components/ui';
import { useTRPC } from '~/trpc/client';
import { LoadError } from '~/components/load-error';

export default function Services() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const q = useQuery(trpc.services.list.queryOptions());
  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-semibold">Services</h1>
        {canEdit && <LinkButton href="/app/services/new">New service</LinkButton>}
      </div>
      {q.isPending && <Spinner label="Loading services…" />}
      <LoadError query={q} what="the services" />
      {q.data?.length === 0 && (
        <EmptyState title="No services yet" action={canEdit && <LinkButton href="/app/services/new">Create your first service</LinkButton>}>
          A service is a VIP and port that your balancer nodes spread over backends. Enroll a balancer node in Fleet first.
        </EmptyState>
      )}
      {q.data && q.data.length > 0 && (
        <Table caption="Services" head={['Name', 'Health', 'Listener', 'Mode', 'Backends', 'Rollout']}>
          {q.data.map((s) => (
            <tr key={s.id}>
              <td className="px-3 py-2 font-medium">
                <Link className="underline" href={`/app/services/${s.id}`}>
                  {s.name}
                </Link>
              </td>
              <td className="px-3 py-2">
                <ServiceHealthBadge health={s.health} />
              </td>
              <td className="px-3 py-2 font-mono text-xs">
                {s.vip} {s.protocol}/{s.portStart === s.portEnd ? s.portStart : `${s.portStart}-${s.portEnd}`}
              </td>
              <td className="px-3 py-2">
                {s.mode === 'nat' ? (
                  <Badge tone="amber">NAT · not DSR</Badge>
                ) : (
                  <Badge tone="blue">{s.mode === 'l2' ? 'L2 DSR' : `L3 DSR (${s.tunnel})`}</Badge>
                )}
              </td>
              <td className="px-3 py-2">
                {s.backends.filter((b) => b.state === 'active').length}/{s.backends.length} active
              </td>
              <td className="px-3 py-2">
                <RolloutBadge service={s} />
              </td>
            </tr>
          ))}
        </Table>
      )}
    </div>
  );
}
