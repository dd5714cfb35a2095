'use client';

import { useQuery } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { AddNode } from '~/components/add-node';
import { useCanEdit } from '~/components/app-shell';
import { DsrCharts } from '~/components/charts';
import { Badge, LinkButton, Spinner } from '~/components/ui';
import { ago } from '~/lib/format';
import { useTRPC } from '~/trpc/client';

function Step({ n, title, done, children }: { n: number; title: string; done: boolean; children: ReactNode }) {
  return (
    <li className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
      <h2 className="mb-2 flex items-center gap-2 font-semibold">
        <span
          aria-hidden
          className={`flex h-6 w-6 items-center justify-center rounded-full text-xs ${done ? 'bg-emerald-600 text-on-accent' : 'bg-slate-200'}`}
        >
          {done ? '✓' : n}
        </span>
        {title} {done && <span className="sr-only">(done)</span>}
      </h2>
      <div className="pl-8">{children}</div>
    </li>
  );
}

export default function Onboarding() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const summary = useQuery({ ...trpc.org.summary.queryOptions(), refetchInterval: 3000 });
  const nodes = useQuery(trpc.nodes.list.queryOptions());
  const o = summary.data?.onboarding;
  if (!o) return <Spinner label="Loading…" />;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Set up your first load-balanced service</h1>
      <ol className="flex flex-col gap-4">
        <Step n={1} title="Enroll a node" done={o.nodeEnrolled}>
          <p className="mb-3 text-sm text-slate-600">
            Run the agent on a host that will balance traffic (or serve it). It needs Linux with nftables, and root.
          </p>
          <AddNode disabled={!canEdit} />
        </Step>
        <Step n={2} title="Watch it come online" done={o.nodeOnline}>
          {nodes.data && nodes.data.length > 0 ? (
            <ul className="flex flex-col gap-1 text-sm" data-testid="onboarding-nodes">
              {nodes.data.map((n) => (
                <li key={n.id} className="flex items-center gap-2">
                  <Badge tone={n.online ? 'green' : 'slate'}>{n.online ? 'online' : 'offline'}</Badge>
                  <span className="font-medium">{n.name}</span>
                  <span className="text-slate-500">seen {ago(n.lastSeenAt)}</span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="text-sm text-slate-600">Waiting for the agent to connect… it appears here by itself.</p>
          )}
        </Step>
        <Step n={3} title="Create a service" done={o.serviceCreated}>
          <p className="mb-3 text-sm text-slate-600">A VIP, a port, the balancer node and your backends.</p>
          <LinkButton href="/app/services/new">Create a service</LinkButton>
        </Step>
        <Step n={4} title="See its traffic" done={o.trafficSeen}>
          <p className="mb-3 text-sm text-slate-600">
            Send requests to the VIP. Inbound bytes show at the balancer; responses leave the backends directly.
          </p>
          {o.serviceCreated && <DsrCharts title="Fleet" />}
        </Step>
      </ol>
    </div>
  );
}
