'use client';

import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { Button, EmptyState, ErrorNote, Field, Input, Select, Spinner, Table } from '~/components/ui';
import { errorMessage, useTRPC } from '~/trpc/client';
import { AUDIT_ACTIONS, type AuditAction, type AuditTargetType } from '@tula/validators';

/** The target filter's kinds of thing. */
const TARGET_KINDS: Record<AuditTargetType, string> = {
  service: 'Any service',
  node: 'Any node',
  membership: 'Any member',
  invitation: 'Any invitation',
  api_token: 'Any API token',
  enrollment_token: 'Any enrollment token',
  organization: 'The organisation',
};
const ACTOR_KINDS = { token: 'API token', agent: 'agent', system: 'automatic', person: '' } as const;

/** A name, linked to its page while the thing exists. */
function Named({ thing }: { thing: { name: string; href?: string } }) {
  return thing.href ? (
    <Link className="font-medium text-brand-700 underline" href={thing.href}>
      {thing.name}
    </Link>
  ) : (
    <span className="font-medium">{thing.name}</span>
  );
}

interface Filters {
  /** "" (any), a kind ("node"), or one thing ("service:<id>"). */
  target: string;
  actorUserId: string;
  action: string;
  /** datetime-local values (the browser's time zone). */
  from: string;
  to: string;
}

/** The filters as the API takes them: empty ones left out, local times as instants. */
function apiFilter(f: Filters) {
  const [targetType, targetId] = f.target.split(':') as [AuditTargetType | '', string | undefined];
  return {
    ...(targetType && { targetType }),
    ...(targetId && { targetId }),
    ...(f.actorUserId && { actorUserId: f.actorUserId }),
    ...(f.action && { action: f.action as AuditAction }),
    ...(f.from && { from: new Date(f.from) }),
    ...(f.to && { to: new Date(f.to) }),
  };
}

export default function Audit() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [filters, setFilters] = useState<Filters>({ target: '', actorUserId: '', action: '', from: '', to: '' });
  const set = (patch: Partial<Filters>) => setFilters((f) => ({ ...f, ...patch }));
  const filter = apiFilter(filters);
  const services = useQuery(trpc.services.list.queryOptions());
  const nodes = useQuery(trpc.nodes.list.queryOptions());
  const actors = useQuery(trpc.audit.actors.queryOptions());
  const q = useInfiniteQuery(trpc.audit.list.infiniteQueryOptions({ limit: 50, ...filter }, { getNextPageParam: (p) => p.nextCursor }));
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<unknown>(null);
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];

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
      <form
        className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-2 lg:grid-cols-5"
        aria-label="Filter the audit log"
        onSubmit={(e) => e.preventDefault()}
      >
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
        <Field label="What">
          {(p) => (
            <Select {...p} value={filters.action} onChange={(e) => set({ action: e.target.value })}>
              <option value="">Any action</option>
              {Object.entries(AUDIT_ACTIONS).map(([action, label]) => (
                <option key={action} value={action}>
                  {label.replace(/ (of|to|for)$/, '')}
                </option>
              ))}
            </Select>
          )}
        </Field>
        <Field label="Target">
          {(p) => (
            <Select {...p} value={filters.target} onChange={(e) => set({ target: e.target.value })}>
              <option value="">Anything</option>
              <optgroup label="Kinds">
                {Object.entries(TARGET_KINDS).map(([type, label]) => (
                  <option key={type} value={type}>
                    {label}
                  </option>
                ))}
              </optgroup>
              {(services.data ?? []).length > 0 && (
                <optgroup label="Services">
                  {(services.data ?? []).map((s) => (
                    <option key={s.id} value={`service:${s.id}`}>
                      {s.name}
                    </option>
                  ))}
                </optgroup>
              )}
              {(nodes.data ?? []).length > 0 && (
                <optgroup label="Nodes">
                  {(nodes.data ?? []).map((n) => (
                    <option key={n.id} value={`node:${n.id}`}>
                      {n.name}
                    </option>
                  ))}
                </optgroup>
              )}
            </Select>
          )}
        </Field>
        <Field label="From">
          {(p) => <Input {...p} type="datetime-local" value={filters.from} onChange={(e) => set({ from: e.target.value })} />}
        </Field>
        <Field label="Until">
          {(p) => <Input {...p} type="datetime-local" value={filters.to} onChange={(e) => set({ to: e.target.value })} />}
        </Field>
      </form>
      {q.isPending && <Spinner label="Loading events…" />}
      {(q.error ?? exportError) != null && <ErrorNote>{errorMessage(q.error ?? exportError)}</ErrorNote>}
      {!q.isPending && items.length === 0 && (
        <EmptyState title={Object.keys(filter).length ? 'No events match' : 'Nothing yet'}>
          {Object.keys(filter).length
            ? 'Widen the time range or clear a filter.'
            : 'Every change to services, nodes, tokens and members is recorded here.'}
        </EmptyState>
      )}
      {items.length > 0 && (
        <Table caption="Audit events" head={['When', 'Who', 'What', 'Changes']}>
          {items.map((e) => (
            <tr key={e.id} data-action={e.action}>
              <td className="px-3 py-2 text-xs sm:whitespace-nowrap">
                <time dateTime={new Date(e.createdAt).toISOString()}>{new Date(e.createdAt).toLocaleString()}</time>
              </td>
              <td className="px-3 py-2">
                <Named thing={e.actor} />
                {e.actor.kind !== 'person' && <span className="ml-1 text-xs text-slate-500">({ACTOR_KINDS[e.actor.kind]})</span>}
              </td>
              <td className="px-3 py-2">
                {e.what} {e.target && <Named thing={e.target} />}
                {e.revision && (
                  <>
                    {' '}
                    <Link
                      className="whitespace-nowrap text-xs text-brand-700 underline"
                      href={`/app/services/${e.revision.serviceId}/history`}
                    >
                      revision {e.revision.number}
                    </Link>
                  </>
                )}
              </td>
              <td className="px-3 py-2 text-xs text-slate-700">
                {e.changes.length > 0 && (
                  <ul className="flex flex-col gap-0.5">
                    {e.changes.map((line, i) => (
                      <li key={i} className="break-words">
                        {line}
                      </li>
                    ))}
                  </ul>
                )}
              </td>
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
