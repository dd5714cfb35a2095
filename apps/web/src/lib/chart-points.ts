// The steps a traffic chart draws, from the points the panel has. Pure, so the
// rules are tested without a browser.

/** One step of the chart; null where no counters were reported for it (drawn as a gap, not a zero). */
export interface ChartPoint {
  t: number;
  inbound: number | null;
  returnPath: number | null;
  newFlowsPerSecond: number | null;
}

/**
 * Every step from `startMs` to the last complete step before `nowMs`. Steps with
 * no counters stored are gaps, not zeros (agents store nothing for a quiet
 * second, and a late report arrives later); the step still in progress is left
 * out, so half a bucket is not drawn as a dip.
 */
export function chartSteps(known: ReadonlyMap<number, ChartPoint>, stepMs: number, startMs: number, nowMs: number): ChartPoint[] {
  const end = Math.floor(nowMs / stepMs) * stepMs - stepMs;
  const out: ChartPoint[] = [];
  for (let t = Math.floor(startMs / stepMs) * stepMs; t <= end; t += stepMs) out.push(known.get(t) ?? { t, inbound: null, returnPath: null, newFlowsPerSecond: null });
  return out;
}
