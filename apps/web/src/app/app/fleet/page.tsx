'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { AddNode } from '~/components/add-node';
import { AgentVersion } from '~/components/agent-version';
import { EnrollmentTokens } from '~/components/enrollment-tokens';
import { useCanEdit } from '~/components/app-shell';
import { FleetCounts } from '~/components/fleet-counts';
import { Badge, Button, Card, EmptyState, Field, Input, Select, Spinner, Table } from '~/components/ui';
import { ago, reportTimes } from '~/lib/format';
import { useTRPC } from '~/trpc/client';
import { LoadError } from '~/components/load-error';

const PAGE_SIZE = 50;
const FILTERS = [
  ['all', 'All nodes'],
  ['online', 'Online'],
  ['offline', 'Offline'],
  ['out-of-sync', 'Not in sync'],
  ['errors', 'With errors'],
  ['warnings', 'With warnings'],
  ['drifted', 'Drift repaired (24 h)'],
  ['revoked', 'Revoked'],
] as const;
type Filter = (typeof FILTERS)[number][0];

/** `value`, once it has stopped changing for `ms`: one query per pause in typing, not per key. */
function useSettled<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

export default function Fleet() {
  const trpc = useTRPC();
  const canEdit = useCanEdit();
  const [search, setSearch] = useState('');
  const [filter, setFilter] = useState<Filter>('all');
  const settledSearch = useSettled(search.trim(), 250);
  // The page belongs to one search and filter: a new one starts again at the first page.
  const listKey = `${filter}:${settledSearch}`;
  const [pageAt, setPageAt] = useState({ listKey, offset: 0 });
  // Adjusted while rendering (React's pattern for state derived from a change), so going
  // back to an earlier search or filter starts at its first page too.
  if (pageAt.listKey !== listKey) setPageAt({ listKey, offset: 0 });
  const offset = pageAt.listKey === listKey ? pageAt.offset : 0;
  const setOffset = (next: number) => setPageAt({ listKey, offset: next });
  const q = useQuery({
    ...trpc.nodes.page.queryOptions({ search: settledSearch, filter, offset, limit: PAGE_SIZE }),
    placeholderData: keepPreviousData,
    refetchInterval: 3000,
  });
  const counts = useQuery({ ...trpc.org.summary.queryOptions(), refetchInterval: 3000 }).data?.counts;
  const narrowed = settledSearch !== '' || filter !== 'all';
  const page = q.data;
  return (
    <div className="flex flex-col gap-4">
      <h1 className="text-2xl font-semibold">Fleet</h1>
      {canEdit && (
        <Card title="Add a node">
          <AddNode />
        </Card>
      )}
      <EnrollmentTokens canEdit={canEdit} />
      {counts && counts.nodes > 0 && <FleetCounts counts={counts} />}
      {(narrowed || (page && page.matching > 0)) && (
        <div className="grid gap-3 sm:grid-cols-[1fr_14rem]">
          <Field label="Search nodes" hint="Part of a name or hostname, or a whole address.">
            {(a) => <Input {...a} type="search" value={search} maxLength={100} onChange={(e) => setSearch(e.target.value)} />}
          </Field>
          <Field label="Show">
            {(a) => (
              <Select {...a} value={filter} onChange={(e) => setFilter(e.target.value as Filter)}>
                {FILTERS.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </Select>
            )}
          </Field>
        </div>
      )}
      {q.isPending && <Spinner label="Loading nodes…" />}
      <LoadError query={q} what="the nodes" everySeconds={3} />
      {page?.matching === 0 && !narrowed && (
        <EmptyState title="No nodes yet">
          Add a node: run the agent command on a balancer or backend host. It appears here as soon as it connects.
        </EmptyState>
      )}
      {page?.matching === 0 && narrowed && (
        <EmptyState
          title="No nodes match"
          action={
            <Button variant="secondary" onClick={() => (setSearch(''), setFilter('all'))}>
              Show all nodes
            </Button>
          }
        >
          Nothing in this fleet matches the search and filter above.
        </EmptyState>
      )}
      {page && page.matching > 0 && (
        <Table
          caption="Nodes"
          head={['Node', 'Role', 'Status', 'Last seen', 'Agent', 'Kernel', 'Applied / desired', 'Last error and warnings']}
        >
          {page.items.map((n) => {
            const caps = n.capabilities as { tunnels?: string[]; nftVersion?: string | null; kernel?: string };
            return (
              <tr key={n.id}>
                <td className="px-3 py-2 font-medium">
                  <Link className="underline" href={`/app/fleet/${n.id}`}>
                    {n.name}
                  </Link>
                </td>
                <td className="px-3 py-2">{n.role}</td>
                <td className="px-3 py-2">
                  {n.revokedAt ? (
                    <Badge tone="red">revoked</Badge>
                  ) : (
                    <Badge tone={n.online ? 'green' : 'slate'}>{n.online ? 'online' : 'offline'}</Badge>
                  )}
                </td>
                <td className="px-3 py-2">{ago(n.lastSeenAt)}</td>
                <td className="px-3 py-2">
                  <AgentVersion node={n} />
                </td>
                <td className="px-3 py-2 text-xs">
                  {caps.kernel ?? '-'}
                  {caps.tunnels && <div className="text-slate-500">tunnels: {caps.tunnels.join(', ') || 'none'}</div>}
                </td>
                <td className="px-3 py-2">
                  <Badge tone={n.inSync ? 'green' : 'amber'}>
                    {n.appliedVersion ?? '-'} / {n.desiredVersion}
                  </Badge>
                </td>
                <td className="max-w-xs px-3 py-2 text-xs">
                  {n.lastError && (
                    <div className="truncate text-red-800" title={n.lastError}>
                      {n.lastError}
                    </div>
                  )}
                  {n.warnings.length > 0 && (
                    <div
                      className={`truncate ${n.warningsStale ? 'text-slate-600' : 'text-amber-900'}`}
                      title={n.warnings.map((w) => w.message).join('\n')}
                    >
                      <span aria-hidden="true">{n.warningsStale ? '? ' : '! '}</span>
                      {n.warnings.length} warning{n.warnings.length === 1 ? '' : 's'}
                      {n.warningsStale && ` (node offline; ${reportTimes(n)})`}: {n.warnings[0]!.message}
                    </div>
                  )}
                  {n.lastDriftAt && (
                    <div className="truncate text-amber-900" title={n.lastDrift.join('\n')}>
                      drift repaired {ago(n.lastDriftAt)}: {n.lastDrift.join('; ')}
                    </div>
                  )}
                </td>
              </tr>
            );
          })}
        </Table>
      )}
      {page && page.matching > page.limit && (
        <nav aria-label="Pages of nodes" className="flex flex-wrap items-center justify-between gap-3 text-sm">
          <span aria-live="polite">
            Nodes {page.offset + 1}–{Math.min(page.offset + page.limit, page.matching)} of {page.matching}
            {q.isPlaceholderData && <Spinner />}
          </span>
          <span className="flex gap-2">
            <Button variant="secondary" disabled={page.offset === 0} onClick={() => setOffset(Math.max(0, page.offset - page.limit))}>
              Previous
            </Button>
            <Button
              variant="secondary"
              disabled={page.offset + page.limit >= page.matching}
              onClick={() => setOffset(page.offset + page.limit)}
            >
              Next
            </Button>
          </span>
        </nav>
      )}
    </div>
  );
}
