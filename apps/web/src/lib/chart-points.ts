// The steps a traffic chart draws, from the points the panel has, and the time
// axis the charts share. Pure, so the rules are tested without a browser.

/** One step of the chart; null where no counters were reported for it (drawn as a gap, not a zero). */
export interface ChartPoint {
  t: number;
  inbound: number | null;
  returnPath: number | null;
  newFlowsPerSecond: number | null;
}

/** A stored counter sum as the live stream delivers it (one series, one second). */
export interface LiveSample {
  kind: 'service' | 'backend' | 'vip_return';
  seriesKey: string;
  at: Date | string;
  bytes: number;
  newFlows: number;
}

/**
 * Adds the live stream's samples to the chart's seconds (a new map). A second's
 * balancer and backend reports arrive in separate flushes: a series nobody has
 * reported for that second stays null, not 0.
 */
export function addLiveSamples(
  known: ReadonlyMap<number, ChartPoint>,
  samples: readonly LiveSample[],
  only: { serviceId?: string | undefined; vip?: string | undefined },
): Map<number, ChartPoint> {
  const next = new Map(known);
  for (const s of samples) {
    const inService = s.kind === 'service' && (!only.serviceId || s.seriesKey === only.serviceId);
    const inReturn = s.kind === 'vip_return' && (!only.vip || s.seriesKey === only.vip);
    if (!inService && !inReturn) continue;
    const t = Math.floor(new Date(s.at).getTime() / 1000) * 1000;
    const p = { ...(next.get(t) ?? { t, inbound: null, returnPath: null, newFlowsPerSecond: null }) };
    if (inService) {
      p.inbound = (p.inbound ?? 0) + s.bytes;
      p.newFlowsPerSecond = (p.newFlowsPerSecond ?? 0) + s.newFlows;
    } else p.returnPath = (p.returnPath ?? 0) + s.bytes;
    next.set(t, p);
  }
  return next;
}

/**
 * Every step from `startMs` through the last complete one. Steps with no counters
 * stored are gaps, not zeros (agents store nothing for a quiet second, and a late
 * report arrives later). A step is complete once it has ended and its last second
 * is at or before `completeThrough`, the newest second every connected agent's
 * counters are stored through (the panel's watermark: stats.series, and each
 * live.counters event): so a second whose balancer report is in and whose
 * backends' are not is not drawn as a dip, nor read by the legend as the current
 * value. Null: no agent is reporting, nothing is on its way.
 */
export function chartSteps(
  known: ReadonlyMap<number, ChartPoint>,
  stepMs: number,
  startMs: number,
  nowMs: number,
  completeThrough: number | null,
): ChartPoint[] {
  const ended = Math.floor(nowMs / stepMs) * stepMs - stepMs;
  const end = completeThrough === null ? ended : Math.min(ended, Math.floor((completeThrough + 1000) / stepMs) * stepMs - stepMs);
  const out: ChartPoint[] = [];
  for (let t = Math.floor(startMs / stepMs) * stepMs; t <= end; t += stepMs)
    out.push(known.get(t) ?? { t, inbound: null, returnPath: null, newFlowsPerSecond: null });
  return out;
}

/** The watermark a live.counters event carries in its id (its cursor's `c`); undefined when the id does not say. */
export function completeThroughOf(eventId: string): number | null | undefined {
  try {
    const c: unknown = (JSON.parse(eventId) as { c?: unknown }).c;
    return c === null || (typeof c === 'number' && Number.isFinite(c)) ? c : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the legend shows without a pointer: the newest drawn step with any
 * series reported, and each series' value there (null: not reported then).
 */
export function legendStep(
  columns: readonly (readonly (number | null | undefined)[])[],
): { index: number; values: (number | null)[] } | null {
  const length = Math.max(0, ...columns.map((c) => c.length));
  for (let i = length - 1; i >= 0; i--)
    if (columns.some((c) => c[i] != null)) return { index: i, values: columns.map((c) => c[i] ?? null) };
  return null;
}

/**
 * The legend's time for a step (seconds since the epoch): the clock time, after
 * the date where the window [min, max] covers more than one local day (24 h,
 * 7 d), so that a value is placed on its day.
 */
export function legendTime(t: number, [min, max]: readonly [number, number]): string {
  const at = new Date(t * 1000);
  const time = at.toLocaleTimeString();
  if (new Date(min * 1000).toDateString() === new Date(max * 1000).toDateString()) return time;
  return `${at.toLocaleDateString(undefined, { weekday: 'short', month: 'short', day: 'numeric' })}, ${time}`;
}

/** Tick steps (seconds) a time axis may use: minutes, hours and days that divide the next larger unit. */
const TICK_STEPS_S = [60, 120, 300, 600, 1200, 1800, 3600, 7200, 10_800, 14_400, 28_800, 43_200, 86_400, 172_800, 259_200, 604_800];
const DAY_S = 86_400;

/** Centre to centre, room for the widest time label ("23:50", "Nov 29") and a gap. */
export const TIME_LABEL_SPACING_PX = 40;

/** The time axis's ticks (seconds since the epoch) and their labels. */
export interface TimeTicks {
  at: number[];
  labels: string[];
}

/**
 * The time axis for a window [min, max] (seconds) drawn `plotWidthPx` wide: the
 * shortest round step (local minutes, hours, midnights) whose labels stay
 * TIME_LABEL_SPACING_PX apart. Charts shown together take the same ticks, for
 * the narrowest of them, so the same times are marked on each. Hours and minutes
 * on a 24-hour clock, a midnight by its date.
 */
export function timeTicks([min, max]: readonly [number, number], plotWidthPx: number): TimeTicks {
  if (!(max > min) || !(plotWidthPx > 0) || !Number.isFinite(plotWidthPx)) return { at: [], labels: [] };
  const step = TICK_STEPS_S.find((s) => (s / (max - min)) * plotWidthPx >= TIME_LABEL_SPACING_PX) ?? TICK_STEPS_S.at(-1)!;
  const at: number[] = [];
  // From the local midnight on or before `min`, day by day (a day is not always 24 h where clocks change).
  const day = new Date(min * 1000);
  day.setHours(0, 0, 0, 0);
  while (day.getTime() / 1000 <= max) {
    const midnight = day.getTime() / 1000;
    // Days since the epoch, counted on the local calendar: every n-th midnight, the same ones whatever the window.
    const dayNumber = Date.UTC(day.getFullYear(), day.getMonth(), day.getDate()) / (DAY_S * 1000);
    day.setDate(day.getDate() + 1);
    const nextMidnight = day.getTime() / 1000;
    if (step >= DAY_S) {
      if (dayNumber % (step / DAY_S) === 0 && midnight >= min) at.push(midnight);
    } else for (let t = midnight; t < nextMidnight && t <= max; t += step) if (t >= min) at.push(t);
  }
  const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const date = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  const labels = at.map((t) => {
    const d = new Date(t * 1000);
    return d.getHours() === 0 && d.getMinutes() === 0 ? date.format(d) : clock.format(d);
  });
  return { at, labels };
}
