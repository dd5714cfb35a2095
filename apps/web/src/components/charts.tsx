'use client';

import { useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { bitsPerSecond, count } from '~/lib/format';
import { useTRPC } from '~/trpc/client';
import { Spinner } from './ui';

type Range = 'live' | '1h' | '24h' | '7d';
const RANGES: { value: Range; label: string }[] = [
  { value: 'live', label: 'Live' },
  { value: '1h', label: '1 hour' },
  { value: '24h', label: '24 hours' },
  { value: '7d', label: '7 days' },
];
const LIVE_WINDOW_S = 300;

interface Point {
  t: number;
  inbound: number;
  returnPath: number;
  newFlowsPerSecond: number;
}

/** A canvas line chart (uPlot: smooth with many points and series). */
function LineChart({
  data,
  series,
  format,
  label,
  window: span,
}: {
  data: uPlot.AlignedData;
  /** `right`: on its own scale, with its axis on the right in its colour. */
  series: { label: string; stroke: string; right?: boolean }[];
  format: (v: number) => string;
  label: string;
  /** The time range shown, in seconds since the epoch, whatever the data covers. */
  window: [number, number];
}) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const spanRef = useRef(span);
  spanRef.current = span;
  useEffect(() => {
    if (!el.current) return;
    const right = series.find((s) => s.right);
    const fromZero: uPlot.Scale['range'] = (_u, _min, max) => [0, Math.max(1, max) * 1.1];
    const opts: uPlot.Options = {
      width: el.current.clientWidth,
      height: 220,
      series: [
        {},
        ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, fill: `${s.stroke}22`, scale: s.right ? 'y2' : 'y', value: (_u: uPlot, v: number | null) => (v == null ? '-' : format(v)) })),
      ],
      axes: [
        {},
        { scale: 'y', values: (_u, ticks) => ticks.map(format), size: 96 },
        ...(right ? [{ scale: 'y2', side: 1, stroke: right.stroke, grid: { show: false }, values: (_u: uPlot, ticks: number[]) => ticks.map(format), size: 96 }] : []),
      ],
      scales: { x: { time: true, range: () => spanRef.current }, y: { range: fromZero }, y2: { range: fromZero } },
      legend: { live: true },
    };
    plot.current = new uPlot(opts, data, el.current);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: el.current!.clientWidth, height: 220 }));
    resize.observe(el.current);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is built once per shape; data updates go through setData.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [series.map((s) => s.label).join()]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data, span]);
  return <div ref={el} role="img" aria-label={label} className="w-full" />;
}

/**
 * The DSR picture: bytes per second arriving at the balancers beside the return
 * path leaving the backends, for the fleet or one service; and new flows.
 */
export function DsrCharts({ serviceId, vip, title }: { serviceId?: string; vip?: string; title?: string }) {
  const trpc = useTRPC();
  const [range, setRange] = useState<Range>('live');
  const history = useQuery({ ...trpc.stats.series.queryOptions({ range, ...(serviceId ? { serviceId } : {}) }), refetchInterval: range === 'live' ? false : 60_000 });
  const [live, setLive] = useState<Map<number, Point>>(new Map());

  useEffect(() => {
    if (range !== 'live' || !history.data) return;
    setLive(new Map(history.data.points.map((p) => [p.t, p])));
  }, [range, history.data]);

  useSubscription(
    trpc.live.counters.subscriptionOptions(undefined, {
      enabled: range === 'live',
      onData: (samples) => {
        setLive((prev) => {
          const next = new Map(prev);
          for (const s of samples) {
            const inService = s.kind === 'service' && (!serviceId || s.seriesKey === serviceId);
            const inReturn = s.kind === 'vip_return' && (!vip || s.seriesKey === vip);
            if (!inService && !inReturn) continue;
            const t = Math.floor(new Date(s.at).getTime() / 1000) * 1000;
            const p = next.get(t) ?? { t, inbound: 0, returnPath: 0, newFlowsPerSecond: 0 };
            if (inService) {
              p.inbound += s.bytes;
              p.newFlowsPerSecond += s.newFlows;
            } else p.returnPath += s.bytes;
            next.set(t, { ...p });
          }
          const cutoff = Date.now() - LIVE_WINDOW_S * 1000;
          for (const t of next.keys()) if (t < cutoff) next.delete(t);
          return next;
        });
      },
    }),
  );

  // The live window slides every second, traffic or not.
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (range !== 'live') return;
    const t = setInterval(() => setTick((x) => x + 1), 1000);
    return () => clearInterval(t);
  }, [range]);

  // Every step of the window gets a point: quiet seconds show as zero, not as a line across.
  const points: Point[] = useMemo(() => {
    const stepMs = (range === 'live' ? 1 : (history.data?.stepSeconds ?? 60)) * 1000;
    const known = range === 'live' ? live : new Map((history.data?.points ?? []).map((p) => [p.t, p]));
    const end = Math.floor(Date.now() / stepMs) * stepMs;
    const start = range === 'live' ? end - LIVE_WINDOW_S * 1000 : Math.floor((history.data?.since ?? end) / stepMs) * stepMs;
    const out: Point[] = [];
    for (let t = start; t <= end; t += stepMs) out.push(known.get(t) ?? { t, inbound: 0, returnPath: 0, newFlowsPerSecond: 0 });
    return out;
    // tick re-evaluates the sliding window.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [range, live, history.data, tick]);
  // The chart spans the whole range even when traffic covers a moment of it.
  const nowS = Date.now() / 1000;
  const windowS: [number, number] = range === 'live' ? [nowS - LIVE_WINDOW_S, nowS] : [(history.data?.since ?? Date.now()) / 1000, nowS];
  const traffic: uPlot.AlignedData = [points.map((p) => p.t / 1000), points.map((p) => p.inbound), points.map((p) => p.returnPath)];
  const flows: uPlot.AlignedData = [points.map((p) => p.t / 1000), points.map((p) => p.newFlowsPerSecond)];
  const counted = points.filter((p) => p.inbound > 0 || p.returnPath > 0).length;
  const totals = points.reduce((a, p) => ({ inbound: a.inbound + p.inbound, ret: a.ret + p.returnPath }), { inbound: 0, ret: 0 });
  const ratio = totals.inbound > 0 ? totals.ret / totals.inbound : null;

  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-labelledby="dsr-title">
      <header className="mb-3 flex flex-wrap items-center justify-between gap-3">
        <div>
          <h2 id="dsr-title" className="text-base font-semibold">
            {title ?? 'Traffic'}: balancer inbound vs backend return path
          </h2>
          <p className="text-sm text-slate-600" data-testid="dsr-ratio">
            {ratio === null ? 'No traffic counted in this range yet.' : `The backends sent ${ratio.toFixed(1)}× what the balancers received: that return path never crossed a balancer.`}
          </p>
        </div>
        <div role="radiogroup" aria-label="Time range" className="flex rounded-md border border-slate-300 p-0.5">
          {RANGES.map((r) => (
            <button
              key={r.value}
              role="radio"
              aria-checked={range === r.value}
              onClick={() => setRange(r.value)}
              className={`rounded px-2.5 py-1 text-xs font-medium ${range === r.value ? 'bg-brand-600 text-white' : 'text-slate-700 hover:bg-slate-100'}`}
            >
              {r.label}
            </button>
          ))}
        </div>
      </header>
      {history.isPending ? (
        <Spinner label="Loading counters…" />
      ) : (
        <div className="grid gap-4 lg:grid-cols-3">
          <div className="lg:col-span-2" data-testid="traffic-chart" data-points={counted} data-inbound={totals.inbound} data-return-path={totals.ret}>
            <LineChart
              window={windowS}
              label="Throughput over time: balancer inbound and backend return path"
              data={traffic}
              format={bitsPerSecond}
              // Inbound is a few hundredths of the return path under DSR: on one scale it would lie flat on zero.
              series={[
                { label: 'Balancer inbound (right axis)', stroke: '#0c7564', right: true },
                { label: 'Backend return path', stroke: '#d97706' },
              ]}
            />
          </div>
          <div>
            <LineChart window={windowS} label="New flows per second" data={flows} format={(v) => `${count(v)}/s`} series={[{ label: 'New flows', stroke: '#2563eb' }]} />
          </div>
        </div>
      )}
    </section>
  );
}

/** Up/down history of each backend, as bars across the range. */
export function HealthTimeline({ serviceId }: { serviceId: string }) {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.stats.health.queryOptions({ serviceId, range: '1h' }), refetchInterval: 10_000 });
  if (!q.data) return <Spinner label="Loading health history…" />;
  const { since, backends, transitions } = q.data;
  const now = Date.now();
  const span = now - since;
  return (
    <div className="flex flex-col gap-2" aria-label="Backend health over the last hour">
      {backends.map((b) => {
        const own = transitions.filter((t) => t.backendId === b.id);
        const segments: { from: number; to: number; healthy: boolean | null }[] = [];
        let state: boolean | null = null;
        let from = since;
        for (const t of own) {
          const at = new Date(t.at).getTime();
          segments.push({ from, to: at, healthy: state });
          state = t.healthy;
          from = at;
        }
        segments.push({ from, to: now, healthy: state });
        return (
          <div key={b.id} className="flex items-center gap-3 text-xs">
            <span className="w-32 shrink-0 font-mono">{b.address}</span>
            <div className="flex h-3 flex-1 overflow-hidden rounded bg-slate-100">
              {segments.map((s, i) => (
                <div
                  key={i}
                  title={s.healthy === null ? 'no report' : s.healthy ? 'up' : 'down'}
                  style={{ width: `${((s.to - s.from) / span) * 100}%` }}
                  className={s.healthy === null ? 'bg-slate-200' : s.healthy ? 'bg-emerald-500' : 'bg-red-500'}
                />
              ))}
            </div>
          </div>
        );
      })}
      <p className="text-xs text-slate-500">Last hour. Green: health checks pass; red: failing; grey: no report.</p>
    </div>
  );
}
