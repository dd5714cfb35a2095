import { describe, expect, it } from 'vitest';
import { FlowTableFullWatch, type CounterSnapshot } from './counters.ts';

const snap = (at: number, full: Record<string, number>): CounterSnapshot => ({
  at,
  vips: {},
  services: Object.fromEntries(
    Object.entries(full).map(([name, flowTableFull]) => [
      name,
      { packets: 0, bytes: 0, newFlows: 0, drops: 0, flowTableFull, backends: {} },
    ]),
  ),
});

describe('flow table full, as the panel is told', () => {
  it('reports a service whose counter grows, with the flows not pinned since, and forgets it a minute after it stops', () => {
    const w = new FlowTableFullWatch();
    // Counts from before the agent started are a baseline, not a warning.
    w.note(snap(0, { web: 500, dns: 7 }));
    expect(w.warnings()).toEqual([]);
    w.note(snap(1_000, { web: 1_700, dns: 7 }));
    w.note(snap(2_000, { web: 2_000, dns: 7 }));
    expect(w.warnings()).toEqual([
      'service web: flow table full since 1970-01-01T00:00:01.000Z: 1,500 new flows not pinned (they follow the Maglev table; raise flowTableSize, or lower synTimeoutS under a SYN flood)',
    ]);
    w.note(snap(50_000, { web: 2_000, dns: 7 }));
    expect(w.warnings()).toHaveLength(1);
    w.note(snap(62_001, { web: 2_000, dns: 7 }));
    expect(w.warnings()).toEqual([]);
  });
});
