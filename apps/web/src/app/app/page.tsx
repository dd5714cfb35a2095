'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { DsrCharts } from '~/components/charts';
import { FleetCounts } from '~/components/fleet-counts';
import { LabControls } from '~/components/lab-controls';
import { Badge, Card, LinkButton, Spinner } from '~/components/ui';
import { useTRPC } from '~/trpc/client';

export default function Overview() {
  const trpc = useTRPC();
  const summary = useQuery(trpc.org.summary.queryOptions());
  const services = useQuery(trpc.services.list.queryOptions());
  const s = summary.data;
  const onboarding = s?.onboarding;
  const done = onboarding && onboarding.nodeOnline && onboarding.serviceCreated && onboarding.trafficSeen;
  return (
    <div className="flex flex-col gap-6">
      <h1 className="text-2xl font-semibold">Overview</h1>
      {summary.isPending && <Spinner label="Loading your organisation…" />}
      {onboarding && !done && (
        <Card title="Get started" actions={<LinkButton href="/app/onboarding">Continue setup</LinkButton>}>
          <p className="text-sm text-slate-600">Enroll a node, create a service, and watch its traffic. It takes a few minutes.</p>
        </Card>
      )}
      <DsrCharts title="Fleet" />
      <LabControls />
      <div className="grid gap-4 md:grid-cols-2">
        <Card title="Fleet" actions={<Link href="/app/fleet" className="text-sm text-brand-700 underline">All nodes</Link>}>
          {s && <FleetCounts counts={s.counts} />}
        </Card>
        <Card title="Services" actions={<Link href="/app/services" className="text-sm text-brand-700 underline">All services</Link>}>
          <ul className="flex flex-col gap-1 text-sm">
            {services.data?.slice(0, 6).map((svc) => (
              <li key={svc.id} className="flex items-center justify-between gap-2">
                <Link className="underline" href={`/app/services/${svc.id}`}>
                  {svc.name}
                </Link>
                <Badge tone={svc.rollout.errors.length ? 'red' : svc.rollout.applied === svc.rollout.nodes ? 'green' : 'amber'}>
                  {svc.rollout.applied}/{svc.rollout.nodes} applied
                </Badge>
              </li>
            ))}
            {services.data?.length === 0 && <li className="text-slate-600">No services yet.</li>}
          </ul>
        </Card>
      </div>
    </div>
  );
}
