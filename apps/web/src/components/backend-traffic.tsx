'use client';

import { useQuery } from '@tanstack/react-query';
import { Card, ErrorNote, Spinner, Table } from '~/components/ui';
import { backendTrafficColumns } from '~/lib/backend-traffic-columns';
import { bitsPerSecond, count } from '~/lib/format';
import { errorMessage, useTRPC } from '~/trpc/client';

const percent = (share: number) => (share === 0 ? '0 %' : `${(share * 100).toFixed(share < 0.1 ? 1 : 0)} %`);

/** A share as a bar and a number; no bar when there is nothing to share (never drawn as 0 %). */
function Share({ share, label }: { share: number | null; label: string }) {
  if (share === null) return <span className="text-slate-500">{label}</span>;
  return (
    <span className="flex items-center gap-2">
      <span aria-hidden="true" className="inline-block h-2 w-20 overflow-hidden rounded bg-slate-100">
        <span className="block h-2 bg-brand-600" style={{ width: `${Math.round(share * 100)}%` }} />
      </span>
      <span className="tabular-nums">{percent(share)}</span>
    </span>
  );
}

/**
 * Each backend's share of the service's new flows right now (the last seconds)
 * and over the last five minutes (per balancer too), and of its return-path
 * bytes, refreshed every five seconds: where operators look first when one
 * backend misbehaves. A backend taken out of rotation reads 0 % now at once,
 * while its five-minute shares (new flows and return path) fade; each column's
 * head says its window.
 */
export function BackendTraffic({ serviceId }: { serviceId: string }) {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.services.backendTraffic.queryOptions({ serviceId }), refetchInterval: 5000 });
  return (
    <Card title="Traffic per backend">
      {q.isPending ? (
        <Spinner label="Loading traffic per backend…" />
      ) : q.error ? (
        <ErrorNote>{`Traffic per backend could not be loaded: ${errorMessage(q.error)}. It retries every 5 seconds.`}</ErrorNote>
      ) : (
        <Table caption="Traffic per backend" head={backendTrafficColumns(q.data)}>
          {q.data.backends.map((b) => (
            <tr
              key={b.backendId}
              data-testid={`backend-traffic-${b.address}`}
              data-share-now={b.newFlowShareNow ?? ''}
              data-share={b.newFlowShare ?? ''}
            >
              <td className="px-3 py-2 font-mono text-xs">{b.address}</td>
              <td className="px-3 py-2" data-testid="share-now">
                <Share share={b.newFlowShareNow} label="no new flows just now" />
              </td>
              <td className="px-3 py-2">
                <Share share={b.newFlowShare} label="no new flows yet" />
              </td>
              <td className="px-3 py-2 text-xs text-slate-700">
                {b.byBalancer.length === 0 ? 'none' : b.byBalancer.map((x) => `${x.name}: ${count(x.newFlows)}`).join(', ')}
              </td>
              <td className="px-3 py-2">
                <Share
                  share={b.returnShare}
                  label={
                    !q.data.dsr
                      ? 'none: NAT replies cross the balancer'
                      : b.returnBytes === null
                        ? 'not measured: no agent on this host'
                        : 'no return traffic yet'
                  }
                />
              </td>
              <td className="px-3 py-2 tabular-nums">
                {b.returnBytes === null ? '—' : bitsPerSecond(b.returnBytes / q.data.windowSeconds)}
              </td>
            </tr>
          ))}
        </Table>
      )}
    </Card>
  );
}
