import { describe, expect, it } from 'vitest';
import { chartSteps, type ChartPoint } from './chart-points.ts';

const p = (t: number, v: number): ChartPoint => ({ t, inbound: v, returnPath: v * 600, newFlowsPerSecond: 1 });

describe('chartSteps', () => {
  it('draws a step without counters as a gap, never as zero', () => {
    const known = new Map([p(0, 5), p(2000, 5)].map((x) => [x.t, x]));
    const steps = chartSteps(known, 1000, 0, 3500);
    expect(steps.map((s) => s.inbound)).toEqual([5, null, 5]);
  });

  it('leaves out the step still in progress, so a partial bucket is not a dip', () => {
    // At 90 s into a 60 s step, the bucket that began at 60 s is half counted.
    const known = new Map([p(0, 10), p(60_000, 5)].map((x) => [x.t, x]));
    expect(chartSteps(known, 60_000, 0, 90_000).map((s) => s.t)).toEqual([0]);
  });
});
