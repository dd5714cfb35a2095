'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '~/trpc/client';

const DATABASE_LABEL = { server: 'PostgreSQL server (DATABASE_URL)', embedded: 'Embedded PostgreSQL (PGlite)' } as const;

export function HealthPanel() {
  const trpc = useTRPC();
  const status = useQuery({ ...trpc.health.status.queryOptions(), refetchInterval: 5_000 });

  if (status.isPending) {
    return (
      <p role="status" className="text-slate-500">
        Checking the control panel…
      </p>
    );
  }
  if (status.isError) {
    return (
      <p role="alert" className="rounded-md bg-red-50 p-4 text-red-800">
        The control panel did not answer: {status.error.message}. Check that the panel process is running and reload.
      </p>
    );
  }
  const s = status.data;
  return (
    <dl className="grid grid-cols-[max-content_1fr] gap-x-6 gap-y-3 rounded-lg border border-slate-200 bg-white p-6 shadow-sm">
      <dt className="text-slate-500">Status</dt>
      <dd data-testid="health-status" className={s.ok ? 'font-medium text-brand-700' : 'font-medium text-red-700'}>
        {s.ok ? 'Healthy' : 'Unhealthy'}
      </dd>
      <dt className="text-slate-500">Database</dt>
      <dd data-testid="health-database">
        {DATABASE_LABEL[s.database.kind]} — {s.database.reachable ? 'reachable' : `unreachable: ${s.database.error}`}
      </dd>
      <dt className="text-slate-500">Migrations applied</dt>
      <dd data-testid="health-migrations">{s.database.migrationsApplied}</dd>
      <dt className="text-slate-500">Version</dt>
      <dd>{s.version}</dd>
      <dt className="text-slate-500">Uptime</dt>
      <dd>{s.uptimeSeconds} s</dd>
      {s.lab && (
        <>
          <dt className="text-slate-500">Local lab</dt>
          <dd data-testid="health-lab">
            {s.lab.state}: {s.lab.detail}
          </dd>
        </>
      )}
    </dl>
  );
}
