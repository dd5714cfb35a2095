'use client';

import { useQuery } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useDarkTheme } from '~/lib/theme';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import {
  addLiveSamples,
  chartSteps,
  completeThroughOf,
  legendStep,
  legendTime,
  timeTicks,
  type ChartPoint as Point,
  type TimeTicks,
} from '~/lib/chart-points';
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
/** Width of a value axis (room for "999.9 Mbit/s"), and of the blank margin that stands in for one. */
const VALUE_AXIS_PX = 96;

/** Where a chart sits: its element's width and its plot area's (CSS pixels). */
interface ChartLayout {
  width: number;
  plotWidth: number;
}

/** Indices of values with no value on either side. */
const isolatedPoints: uPlot.Series.Points.Filter = (u, seriesIdx) => {
  const ys = u.data[seriesIdx]!;
  const out: number[] = [];
  for (let i = 0; i < ys.length; i++) if (ys[i] != null && ys[i - 1] == null && ys[i + 1] == null) out.push(i);
  return out;
};

/** Ticks for counts of whole things (flows): 1, 2, 5, 10, ... never 0.5 of a flow. */
const WHOLE_TICKS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

/**
 * A canvas line chart (uPlot: smooth with many points and series). Its legend is
 * ours: each series' latest value, or the value under the pointer, in fixed-width
 * cells so nothing moves as the numbers change.
 */
function LineChart({
  data,
  series,
  format,
  label,
  window: span,
  ticks,
  rightMargin = false,
  onLayout,
  wholeNumbers = false,
}: {
  data: uPlot.AlignedData;
  /** `right`: on its own scale, with its axis on the right in its colour. */
  series: { label: string; stroke: string; right?: boolean }[];
  format: (v: number) => string;
  label: string;
  /** The time range shown, in seconds since the epoch, whatever the data covers. */
  window: [number, number];
  /** The time axis's ticks, shared with the charts shown beside this one. */
  ticks: TimeTicks;
  /** A blank margin as wide as a right-hand value axis: lines the plot up with a chart above or below that has one. */
  rightMargin?: boolean;
  /** Called with the chart's layout when it is drawn and whenever its size changes. */
  onLayout: (layout: ChartLayout) => void;
  wholeNumbers?: boolean;
}) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const spanRef = useRef(span);
  const ticksRef = useRef(ticks);
  const onLayoutRef = useRef(onLayout);
  // Before the effect below, which may build the chart with them.
  useEffect(() => {
    spanRef.current = span;
    ticksRef.current = ticks;
    onLayoutRef.current = onLayout;
  }, [span, ticks, onLayout]);
  const [hover, setHover] = useState<number | null>(null);
  // The canvas is not styled by CSS: axes and grid take the theme's ink, and the chart is redrawn when it changes.
  const dark = useDarkTheme();
  useEffect(() => {
    const node = el.current;
    if (!node) return;
    const ink = dark ? '#cbd5e1' : '#334155';
    const grid = { stroke: dark ? 'rgba(255,255,255,0.10)' : 'rgba(0,0,0,0.07)', width: 1 };
    const axisInk = { stroke: ink, grid, ticks: grid };
    const right = series.find((s) => s.right);
    const fromZero: uPlot.Scale['range'] = (_u, _min, max) => [0, Math.max(1, max ?? 0) * 1.1];
    const opts: uPlot.Options = {
      width: node.clientWidth,
      height: 220,
      padding: [null, rightMargin ? VALUE_AXIS_PX : null, null, null],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: 2,
          fill: `${s.stroke}22`,
          scale: s.right ? 'y2' : 'y',
          spanGaps: false,
          // A value between two gaps has no line to sit on: it is drawn as a dot.
          points: { show: true, size: 5, fill: s.stroke, filter: isolatedPoints },
        })),
      ],
      axes: [
        // The shared ticks, not uPlot's own: it would choose them for this chart's width alone.
        { ...axisInk, splits: () => ticksRef.current.at, values: () => ticksRef.current.labels },
        {
          scale: 'y',
          ...axisInk,
          values: (_u, ticks) => ticks.map(format),
          size: VALUE_AXIS_PX,
          ...(wholeNumbers && { incrs: WHOLE_TICKS }),
        },
        ...(right
          ? [
              {
                scale: 'y2',
                side: 1,
                stroke: right.stroke,
                grid: { show: false },
                ticks: grid,
                values: (_u: uPlot, ticks: number[]) => ticks.map(format),
                size: VALUE_AXIS_PX,
              },
            ]
          : []),
      ],
      scales: { x: { time: true, range: () => spanRef.current }, y: { range: fromZero }, y2: { range: fromZero } },
      legend: { show: false },
      hooks: {
        setCursor: [(u) => setHover(u.cursor.idx ?? null)],
        setSize: [(u) => onLayoutRef.current({ width: node.clientWidth, plotWidth: u.bbox.width / uPlot.pxRatio })],
      },
    };
    plot.current = new uPlot(opts, data, node);
    // The element is captured: React clears the ref before this effect's cleanup runs,
    // and the observer may fire in between.
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: node.clientWidth, height: 220 }));
    resize.observe(node);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- built once per shape (the series' labels, the margin) and theme; data goes through setData, and a new format or data array must not rebuild the chart
  }, [series.map((s) => s.label).join(), rightMargin, dark]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data, span, ticks]);
  // Without the pointer: the newest drawn step (complete: every connected agent's counters stored, see chartSteps) with any series reported.
  const times = data[0] as number[];
  const latest = hover === null ? legendStep(data.slice(1) as (number | null)[][]) : null;
  const at = hover ?? latest?.index ?? null;
  return (
    <div>
      {/* Grid items may not shrink below their content: without min-w-0 above and this overflow, a chart drawn wide keeps the page wide. */}
      <div ref={el} role="img" aria-label={label} className="w-full overflow-hidden" />
      <dl className="mt-1 flex flex-wrap gap-x-4 gap-y-1 text-xs" data-testid="chart-legend">
        {series.map((s, k) => {
          const v = at === null ? null : (data[k + 1]![at] ?? null);
          return (
            <div key={s.label} className="flex items-center gap-1.5">
              <span aria-hidden="true" className="inline-block h-2 w-3 rounded-sm" style={{ background: s.stroke }} />
              <dt className="text-slate-600">{s.label}</dt>
              {/* Not reported for that step: a dash (no report), never 0. */}
              <dd
                className="inline-block min-w-[6.5rem] font-medium tabular-nums"
                data-testid="legend-value"
                data-value={v === null ? '' : String(v)}
                title={v === null ? 'no counters reported for this step' : undefined}
              >
                {v === null ? '—' : format(v)}
              </dd>
            </div>
          );
        })}
        <div
          className="min-w-[7rem] text-slate-500 tabular-nums"
          data-testid="legend-time"
          data-time={at === null ? '' : String(times[at]! * 1000)}
        >
          {at === null ? '' : hover === null ? `latest, ${legendTime(times[at]!, span)}` : legendTime(times[at]!, span)}
        </div>
      </dl>
    </div>
  );
}

const sameLayout = (a: ChartLayout | undefined, b: ChartLayout) => a?.width === b.width && a.plotWidth === b.plotWidth;

/**
 * The DSR picture: bytes per second arriving at the balancers beside the return
 * path leaving the backends, for the fleet or one service; and new flows.
 */
/**
 * `vipSharedWith`: the other services on this service's VIP. Backends count their
 * return path per VIP, so the return path line is then the whole VIP's, and a
 * ratio to this service's inbound would overstate it.
 */
export function DsrCharts({
  serviceId,
  vip,
  title,
  vipSharedWith = [],
  nat = false,
}: {
  serviceId?: string;
  vip?: string;
  title?: string;
  vipSharedWith?: readonly string[];
  /** A NAT service: its responses cross the balancer, so it has no return path of its own. */
  nat?: boolean;
}) {
  const trpc = useTRPC();
  const [range, setRange] = useState<Range>('live');
  const history = useQuery({
    ...trpc.stats.series.queryOptions({ range, ...(serviceId ? { serviceId } : {}) }),
    refetchInterval: range === 'live' ? false : 60_000,
  });
  const [live, setLive] = useState<Map<number, Point>>(new Map());
  // The newest second every connected agent's counters are stored through (live: from the stream's events).
  const [liveCompleteThrough, setLiveCompleteThrough] = useState<number | null>(null);

  useEffect(() => {
    if (range !== 'live' || !history.data) return;
    setLive(new Map(history.data.points.map((p) => [p.t, p])));
    setLiveCompleteThrough(history.data.completeThrough);
  }, [range, history.data]);

  // The stream starts just after the flushes the history summed (its cursor), so a flush stored
  // while the history loaded is counted once; a new history (refetched) starts it again from its own.
  const liveCursor = range === 'live' ? history.data?.liveCursor : undefined;
  useSubscription(
    trpc.live.counters.subscriptionOptions(liveCursor ? { lastEventId: liveCursor } : undefined, {
      enabled: Boolean(liveCursor),
      // Each event carries its cursor (tracked): after a reconnect the stream resumes after it, with no gap and nothing twice.
      onData: ({ id, data: samples }) => {
        const complete = completeThroughOf(id);
        if (complete !== undefined) setLiveCompleteThrough(complete);
        setLive((prev) => {
          const next = addLiveSamples(prev, samples, { serviceId, vip });
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

  const points: Point[] = useMemo(() => {
    const stepMs = (range === 'live' ? 1 : (history.data?.stepSeconds ?? 60)) * 1000;
    const known: Map<number, Point> = range === 'live' ? live : new Map((history.data?.points ?? []).map((p) => [p.t, p]));
    const now = Date.now();
    const start = range === 'live' ? now - LIVE_WINDOW_S * 1000 : (history.data?.since ?? now);
    return chartSteps(known, stepMs, start, now, range === 'live' ? liveCompleteThrough : (history.data?.completeThrough ?? null));
    // eslint-disable-next-line react-hooks/exhaustive-deps -- tick is read through Date.now(): it re-evaluates the live window every second
  }, [range, live, liveCompleteThrough, history.data, tick]);
  // The chart spans the whole range even when traffic covers a moment of it.
  const nowS = Date.now() / 1000;
  const windowS: [number, number] = range === 'live' ? [nowS - LIVE_WINDOW_S, nowS] : [(history.data?.since ?? Date.now()) / 1000, nowS];
  // Both charts mark the same times, as many as the narrower plot has room for; one above the
  // other (as wide as each other) they also line up: the flows chart keeps a margin where the traffic chart's right axis is.
  const [layouts, setLayouts] = useState<{ traffic?: ChartLayout; flows?: ChartLayout }>({});
  const onTrafficLayout = useCallback(
    (l: ChartLayout) => setLayouts((prev) => (sameLayout(prev.traffic, l) ? prev : { ...prev, traffic: l })),
    [],
  );
  const onFlowsLayout = useCallback(
    (l: ChartLayout) => setLayouts((prev) => (sameLayout(prev.flows, l) ? prev : { ...prev, flows: l })),
    [],
  );
  const stacked = layouts.traffic !== undefined && layouts.traffic.width === layouts.flows?.width;
  const ticks = timeTicks(windowS, Math.min(layouts.traffic?.plotWidth ?? Infinity, layouts.flows?.plotWidth ?? Infinity));
  const traffic: uPlot.AlignedData = [points.map((p) => p.t / 1000), points.map((p) => p.inbound), points.map((p) => p.returnPath)];
  const flows: uPlot.AlignedData = [points.map((p) => p.t / 1000), points.map((p) => p.newFlowsPerSecond)];
  const counted = points.filter((p) => (p.inbound ?? 0) > 0 || (p.returnPath ?? 0) > 0).length;
  const totals = points.reduce((a, p) => ({ inbound: a.inbound + (p.inbound ?? 0), ret: a.ret + (p.returnPath ?? 0) }), {
    inbound: 0,
    ret: 0,
  });
  // The newest second each series counted traffic in: a browser test tells "still flowing" from it, which the window's sums cannot once the window is full.
  const newestSecond = (pick: (p: Point) => number | null) =>
    Math.max(0, ...points.filter((p) => (pick(p) ?? 0) > 0).map((p) => p.t / 1000));
  const ratio = totals.inbound > 0 ? totals.ret / totals.inbound : null;

  return (
    <section className="rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-labelledby="dsr-title">
      <header className="mb-3 flex flex-wrap items-center justify-between gap-3">
        <div>
          <h2 id="dsr-title" className="text-base font-semibold">
            {title ?? 'Traffic'}: balancer inbound vs backend return path
          </h2>
          <p className="text-sm text-slate-600" data-testid="dsr-ratio">
            {nat
              ? "NAT, not DSR: this service's responses cross the balancer (in from the backend, out to the client), so it has no return path of its own."
              : ratio === null
                ? 'No traffic counted in this range yet.'
                : vipSharedWith.length > 0
                  ? 'The return path never crossed a balancer. The two lines have their own scales (inbound on the right axis).'
                  : `The backends sent ${ratio.toFixed(1)}× what the balancers received: that return path never crossed a balancer. The two lines have their own scales (inbound on the right axis).`}
          </p>
          {vipSharedWith.length > 0 && (
            <p className="text-sm text-amber-800" data-testid="dsr-shared-vip">
              Backends count the return path per VIP: this return path line is all of {vip}&apos;s, {vipSharedWith.join(', ')} included.
            </p>
          )}
        </div>
        <div role="radiogroup" aria-label="Time range" className="flex rounded-md border border-slate-300 p-0.5">
          {RANGES.map((r) => (
            <button
              key={r.value}
              role="radio"
              aria-checked={range === r.value}
              onClick={() => setRange(r.value)}
              className={`rounded px-2.5 py-1 text-xs font-medium ${range === r.value ? 'bg-brand-600 text-on-accent' : 'text-slate-700 hover:bg-slate-100'}`}
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
          <div
            className="min-w-0 lg:col-span-2"
            data-testid="traffic-chart"
            data-points={counted}
            data-inbound={totals.inbound}
            data-return-path={totals.ret}
            data-newest-inbound-second={newestSecond((p) => p.inbound)}
            data-newest-return-path-second={newestSecond((p) => p.returnPath)}
          >
            <LineChart
              window={windowS}
              ticks={ticks}
              onLayout={onTrafficLayout}
              label="Throughput over time: balancer inbound and backend return path"
              data={traffic}
              format={bitsPerSecond}
              // Inbound is a few hundredths of the return path under DSR: on one scale it would lie flat on zero.
              series={[
                { label: 'Balancer inbound (right axis)', stroke: '#11907a', right: true },
                {
                  label: vipSharedWith.length > 0 ? 'Backend return path, whole VIP (left axis)' : 'Backend return path (left axis)',
                  stroke: '#d97706',
                },
              ]}
            />
          </div>
          <div className="min-w-0">
            <LineChart
              window={windowS}
              ticks={ticks}
              rightMargin={stacked}
              onLayout={onFlowsLayout}
              label="New flows per second"
              data={flows}
              format={(v) => `${count(v)}/s`}
              series={[{ label: 'New flows', stroke: '#3b82f6' }]}
              wholeNumbers
            />
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
        // A report that repeats the state (another error message, a resent report) continues its segment.
        const close = (to: number) => {
          const last = segments.at(-1);
          if (last && last.healthy === state) last.to = to;
          else segments.push({ from, to, healthy: state });
        };
        for (const t of own) {
          const at = new Date(t.at).getTime();
          close(at);
          state = t.healthy;
          from = at;
        }
        close(now);
        return (
          <div key={b.id} className="flex items-center gap-3 text-xs">
            <span className="w-32 shrink-0 font-mono">{b.address}</span>
            <div className="flex h-3 flex-1 overflow-hidden rounded bg-slate-100">
              {segments.map((s, i) => (
                <div
                  key={i}
                  title={`${s.healthy === null ? 'no report' : s.healthy ? 'up' : 'down'} ${new Date(s.from).toLocaleTimeString()}–${new Date(s.to).toLocaleTimeString()}`}
                  data-state={s.healthy === null ? 'no report' : s.healthy ? 'up' : 'down'}
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
