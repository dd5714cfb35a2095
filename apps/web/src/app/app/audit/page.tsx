'use client';

import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { Button, EmptyState, ErrorNote, Field, Input, Select, Spinner, Table } from '~/components/ui';
import { errorMessage, useTRPC } from '~/trpc/client';

interface Filters {
  serviceId: string;
  actorUserId: string;
  /** datetime-local values (the browser's time zone). */
  from: string;
  to: string;
}

/** The filters as the API takes them: empty ones left out, local times as instants. */
function apiFilter(f: Filters) {
  return {
    ...(f.serviceId && { serviceId: f.serviceId }),
    ...(f.actorUserId && { actorUserId: f.actorUserId }),
    ...(f.from && { from: new Date(f.from) }),
    ...(f.to && { to: new Date(f.to) }),
  };
}

export default function Audit() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [filters, setFilters] = useState<Filters>({ serviceId: '', actorUserId: '', from: '', to: '' });
  const set = (patch: Partial<Filters>) => setFilters((f) => ({ ...f, ...patch }));
  const filter = apiFilter(filters);
  const services = useQuery(trpc.services.list.queryOptions());
  const actors = useQuery(trpc.audit.actors.queryOptions());
  const q = useInfiniteQuery(trpc.audit.list.infiniteQueryOptions({ limit: 50, ...filter }, { getNextPageParam: (p) => p.nextCursor }));
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  const serviceName = new Map((services.data ?? []).map((s) => [s.id, s.name]));

  async function exportCsv() {
    setExporting(true);
    setExportError(null);
    try {
      const { csv } = await queryClient.fetchQuery(trpc.audit.export.queryOptions(filter, { staleTime: 0 }));
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = `tula-audit-${new Date().toISOString().slice(0, 10)}.csv`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setExportError(err);
    } finally {
      setExporting(false);
    }
  }

  return (
    <div className="flex flex-col gap-4">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h1 className="text-2xl font-semibold">Audit log</h1>
        <Button variant="secondary" busy={exporting} onClick={exportCsv}>
          Export CSV
        </Button>
      </div>
      <form className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-4" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        <Field label="Service">
          {(p) => (
            <Select {...p} value={filters.serviceId} onChange={(e) => set({ serviceId: e.target.value })}>
              <option value="">All</option>
              {(services.data ?? []).map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="Person">
          {(p) => (
            <Select {...p} value={filters.actorUserId} onChange={(e) => set({ actorUserId: e.target.value })}>
              <option value="">Everyone</option>
              {(actors.data ?? []).map((a) => (
                <option key={a.userId} value={a.userId}>
                  {a.label}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="From">{(p) => <Input {...p} type="datetime-local" value={filters.from} onChange={(e) => set({ from: e.target.value })} />}</Field>
        <Field label="Until">{(p) => <Input {...p} type="datetime-local" value={filters.to} onChange={(e) => set({ to: e.target.value })} />}</Field>
      </form>
      {q.isPending && <Spinner label="Loading events…" />}
      {(q.error ?? exportError) != null && <ErrorNote>{errorMessage(q.error ?? exportError)}</ErrorNote>}
      {!q.isPending && items.length === 0 && (
        <EmptyState title={Object.keys(filter).length ? 'No events match' : 'Nothing yet'}>
          {Object.keys(filter).length ? 'Widen the time range or clear a filter.' : 'Every change to services, nodes, tokens and members is recorded here.'}
        </EmptyState>
      )}
      {items.length > 0 && (
        <Table caption="Audit events" head={['When', 'Who', 'What', 'Target', 'Revision', 'Details']}>
          {items.map((e) => (
            <tr key={e.id}>
              <td className="whitespace-nowrap px-3 py-2 text-xs">{new Date(e.createdAt).toLocaleString()}</td>
              <td className="px-3 py-2">{e.actorLabel}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.action}</td>
              <td className="px-3 py-2 text-xs">
                {e.targetType} {e.targetId && <span className="text-slate-500">{(e.targetType === 'service' && serviceName.get(e.targetId)) || e.targetId}</span>}
              </td>
              <td className="px-3 py-2 text-xs">
                {e.revision &&
                  (serviceName.has(e.revision.serviceId) ? (
                    <Link className="text-brand-700 underline" href={`/app/services/${e.revision.serviceId}/history`}>
                      revision {e.revision.number}
                    </Link>
                  ) : (
                    `revision ${e.revision.number}`
                  ))}
              </td>
              <td className="max-w-sm truncate px-3 py-2 font-mono text-xs text-slate-600">{JSON.stringify(e.data)}</td>
            </tr>
          ))}
        </Table>
      )}
      {q.hasNextPage && (
        <div>
          <Button variant="secondary" busy={q.isFetchingNextPage} onClick={() => q.fetchNextPage()}>
            Older events
          </Button>
        </div>
      )}
    </div>
  );
}
