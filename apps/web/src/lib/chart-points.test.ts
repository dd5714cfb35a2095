import { describe, expect, it } from 'vitest';
import {
  addLiveSamples,
  chartSteps,
  completeThroughOf,
  legendStep,
  legendTime,
  TIME_LABEL_SPACING_PX,
  timeTicks,
  type ChartPoint,
  type LiveSample,
} from './chart-points.ts';

const p = (t: number, v: number): ChartPoint => ({ t, inbound: v, returnPath: v * 600, newFlowsPerSecond: 1 });

describe('chartSteps', () => {
  it('draws a step without counters as a gap, never as zero', () => {
    const known = new Map([p(0, 5), p(2000, 5)].map((x) => [x.t, x]));
    const steps = chartSteps(known, 1000, 0, 7000, null);
    expect(steps.slice(0, 3).map((s) => s.inbound)).toEqual([5, null, 5]);
  });

  it('leaves out the step still in progress, so a partial bucket is not a dip', () => {
    // At 90 s into a 60 s step, the bucket that began at 60 s is half counted.
    const known = new Map([p(0, 10), p(60_000, 5)].map((x) => [x.t, x]));
    expect(chartSteps(known, 60_000, 0, 90_000, null).map((s) => s.t)).toEqual([0]);
  });

  it('draws only through the watermark: a second some connected agent has not reported yet is not drawn, however long ago it ended', () => {
    // At 30.5 s every second through 29 has ended, but one agent's counters are stored only through second 6
    // (its reports are late): second 7 may hold the balancer's report without the backends'.
    const known = new Map([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => p(s * 1000, 5)).map((x) => [x.t, x]));
    expect(chartSteps(known, 1000, 0, 30_500, 6000).at(-1)!.t).toBe(6000);
    // Once it is stored through second 29, the quiet seconds after 9 are gaps, not zeros.
    const all = chartSteps(known, 1000, 0, 30_500, 29_000);
    expect(all.at(-1)).toEqual({ t: 29_000, inbound: null, returnPath: null, newFlowsPerSecond: null });
    // No agent reporting (null): nothing is on its way, every ended second is drawn.
    expect(chartSteps(known, 1000, 0, 30_500, null).at(-1)!.t).toBe(29_000);
  });

  it('draws a wider step only once its last second is within the watermark', () => {
    const known = new Map([p(0, 10), p(60_000, 5)].map((x) => [x.t, x]));
    expect(chartSteps(known, 60_000, 0, 150_000, 118_000).map((s) => s.t)).toEqual([0]);
    expect(chartSteps(known, 60_000, 0, 150_000, 119_000).map((s) => s.t)).toEqual([0, 60_000]);
  });

  it("reads the watermark from a live event's id", () => {
    expect(completeThroughOf(JSON.stringify({ t: 1, r: {}, c: 7000 }))).toBe(7000);
    expect(completeThroughOf(JSON.stringify({ t: 1, r: {}, c: null }))).toBeNull();
    expect(completeThroughOf(JSON.stringify({ t: 1, r: {} }))).toBeUndefined();
    expect(completeThroughOf('not json')).toBeUndefined();
  });
});

describe('addLiveSamples', () => {
  const at = new Date(5000);
  const ret: LiveSample = { kind: 'vip_return', seriesKey: '10.99.0.100', at, bytes: 600_000, newFlows: 0 };
  const svc: LiveSample = { kind: 'service', seriesKey: 's1', at, bytes: 1000, newFlows: 4 };

  it('a second that only the backends have reported so far has no balancer inbound and no new flows yet: null, not 0', () => {
    const point = addLiveSamples(new Map(), [ret], { serviceId: 's1', vip: '10.99.0.100' }).get(5000)!;
    expect(point).toEqual({ t: 5000, inbound: null, returnPath: 600_000, newFlowsPerSecond: null });
  });

  it("the balancer's report arriving in a later flush completes the same second", () => {
    const first = addLiveSamples(new Map(), [ret], { serviceId: 's1', vip: '10.99.0.100' });
    const both = addLiveSamples(first, [svc, { ...svc, bytes: 500, newFlows: 1 }], { serviceId: 's1', vip: '10.99.0.100' });
    expect(both.get(5000)).toEqual({ t: 5000, inbound: 1500, returnPath: 600_000, newFlowsPerSecond: 5 });
    // The map it was given is left as it was (React state).
    expect(first.get(5000)!.inbound).toBeNull();
  });

  it("leaves out other services' and other VIPs' samples", () => {
    const other = addLiveSamples(
      new Map(),
      [
        { ...svc, seriesKey: 's2' },
        { ...ret, seriesKey: '10.99.0.200' },
      ],
      { serviceId: 's1', vip: '10.99.0.100' },
    );
    expect(other.size).toBe(0);
  });
});

describe('legendTime', () => {
  // Local times: the date is the viewer's.
  const at = (day: number, hour: number) => new Date(2026, 11, day, hour, 30).getTime() / 1000;

  it('is the clock time alone when the window is within one day (live, 1 hour)', () => {
    expect(legendTime(at(3, 12), [at(3, 11), at(3, 12)])).toBe(new Date(at(3, 12) * 1000).toLocaleTimeString());
  });

  it('dates the time when the window covers several days (24 hours, 7 days): the same hour on two days reads differently', () => {
    const week: [number, number] = [at(1, 10), at(8, 10)];
    const firstDay = legendTime(at(1, 12), week);
    const fifthDay = legendTime(at(5, 12), week);
    expect(firstDay).not.toBe(fifthDay);
    expect(firstDay).toContain(new Date(at(1, 12) * 1000).toLocaleDateString(undefined, { month: 'short', day: 'numeric' }));
    expect(fifthDay.endsWith(`, ${new Date(at(5, 12) * 1000).toLocaleTimeString()}`)).toBe(true);
    // A day's window that crosses midnight (24 hours) is dated too.
    expect(legendTime(at(4, 1), [at(3, 2), at(4, 2)])).toContain(
      new Date(at(4, 1) * 1000).toLocaleDateString(undefined, { month: 'short', day: 'numeric' }),
    );
  });
});

describe('legendStep', () => {
  it('shows the newest step with a report, and a series not reported there as null (shown as —), not 0', () => {
    expect(
      legendStep([
        [1, 2, null, null],
        [600, 1200, 1800, null],
      ]),
    ).toEqual({ index: 2, values: [null, 1800] });
  });

  it('is null when nothing was reported in the range', () => {
    expect(
      legendStep([
        [null, null],
        [null, null],
      ]),
    ).toBeNull();
  });
});

describe('timeTicks', () => {
  // Local times (the axis marks the viewer's clock), whatever the machine's time zone.
  const at = (y: number, mo: number, d: number, h = 0, mi = 0, sec = 0) => new Date(y, mo, d, h, mi, sec).getTime() / 1000;

  it('marks round minutes far enough apart for their labels, on a plot as narrow as a phone shows', () => {
    const now = at(2026, 11, 5, 10, 7, 30);
    const { at: ticks, labels } = timeTicks([now - 300, now], 130);
    expect(labels).toEqual(['10:04', '10:06']);
    expect(ticks).toEqual([at(2026, 11, 5, 10, 4), at(2026, 11, 5, 10, 6)]);
    expect(((ticks[1]! - ticks[0]!) / 300) * 130).toBeGreaterThanOrEqual(TIME_LABEL_SPACING_PX);
    // Twice as wide: every minute.
    expect(timeTicks([now - 300, now], 260).labels).toEqual(['10:03', '10:04', '10:05', '10:06', '10:07']);
  });

  it('labels a midnight by its date, and days by theirs', () => {
    // As the viewer's language writes a date ("Dec 5" in English).
    const date = (mo: number, d: number) =>
      new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' }).format(new Date(2026, mo, d));
    const now = at(2026, 11, 5, 9, 30);
    expect(timeTicks([now - 86_400, now], 230).labels).toEqual(['16:00', date(11, 5), '08:00']);
    const week = timeTicks([now - 7 * 86_400, now], 230);
    expect(week.labels).toEqual([date(10, 29), date(11, 1), date(11, 3), date(11, 5)]);
    expect(week.at.every((t) => new Date(t * 1000).getHours() === 0)).toBe(true);
  });

  it('has no ticks until the plot has a width (before the chart is laid out)', () => {
    expect(timeTicks([0, 300], Infinity)).toEqual({ at: [], labels: [] });
    expect(timeTicks([0, 300], 0)).toEqual({ at: [], labels: [] });
  });
});
