'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { DsrCharts } from '~/components/charts';
import { FleetCounts } from '~/components/fleet-counts';
import { RolloutBadge, ServiceHealthBadge } from '~/components/health';
import { LabControls } from '~/components/lab-controls';
import { Card, LinkButton, Spinner } from '~/components/ui';
import { useTRPC } from '~/trpc/client';
import { LoadError } from '~/components/load-error';

const HEALTH_ORDER = ['down', 'degraded', 'unknown', 'incomplete', 'healthy', 'draft'];

export default function Overview() {
  const trpc = useTRPC();
  const summary = useQuery({ ...trpc.org.summary.queryOptions(), refetchInterval: 5000 });
  const services = useQuery({ ...trpc.services.list.queryOptions(), refetchInterval: 5000 });
  const s = summary.data;
  const onboarding = s?.onboarding;
  const done = onboarding && onboarding.nodeOnline && onboarding.serviceCreated && onboarding.trafficSeen;
  return (
    <div className="flex flex-col gap-6">
      <h1 className="text-2xl font-semibold">Overview</h1>
      {summary.isPending && !summary.error && <Spinner label="Loading your organisation…" />}
      {/* One banner while the panel is unreachable, not one per query. */}
      {summary.error ? (
        <LoadError query={summary} what="your organisation's summary" everySeconds={5} />
      ) : (
        <LoadError query={services} what="the services" everySeconds={5} />
      )}
      {onboarding && !done && (
        <Card title="Get started" actions={<LinkButton href="/app/onboarding">Continue setup</LinkButton>}>
          <p className="text-sm text-slate-600">Enroll a node, create a service, and watch its traffic. It takes a few minutes.</p>
        </Card>
      )}
      <DsrCharts title="Fleet" />
      <LabControls />
      <div className="grid gap-4 md:grid-cols-2">
        <Card
          title="Fleet"
          actions={
            <Link href="/app/fleet" className="text-sm text-brand-700 underline">
              All nodes
            </Link>
          }
        >
          {s && <FleetCounts counts={s.counts} />}
        </Card>
        <Card
          title="Services"
          actions={
            <Link href="/app/services" className="text-sm text-brand-700 underline">
              All services
            </Link>
          }
        >
          <ul className="flex flex-col gap-1 text-sm">
            {/* What needs attention first. */}
            {services.data
              ?.toSorted((a, b) => HEALTH_ORDER.indexOf(a.health.state) - HEALTH_ORDER.indexOf(b.health.state))
              .slice(0, 6)
              .map((svc) => (
                <li key={svc.id} className="flex flex-wrap items-center justify-between gap-2" data-testid={`overview-service-${svc.name}`}>
                  <Link className="underline" href={`/app/services/${svc.id}`}>
                    {svc.name}
                  </Link>
                  <span className="flex flex-wrap gap-1">
                    <ServiceHealthBadge health={svc.health} />
                    <RolloutBadge service={svc} />
                  </span>
                </li>
              ))}
            {services.data?.length === 0 && <li className="text-slate-600">No services yet.</li>}
          </ul>
        </Card>
      </div>
    </div>
  );
}
