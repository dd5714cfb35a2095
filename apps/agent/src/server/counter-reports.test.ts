import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CounterSnapshot } from '../dataplane/counters.ts';
import { StateDir } from '../state-dir.ts';
import { CounterReports, forPanel } from './counter-reports.ts';

const snap = (bytes: number, ret: number, at = Date.now()): CounterSnapshot => ({
  at,
  services: {
    web: {
      packets: Math.floor(bytes / 100),
      bytes,
      newFlows: 1,
      drops: 0,
      flowTableFull: 0,
      backends: { '10.0.0.1': { packets: Math.floor(bytes / 100), bytes, newFlows: 1 } },
    },
  },
  vips: { '10.0.0.50': { packets: Math.floor(ret / 1000), bytes: ret } },
});
const dir = () => new StateDir(join(mkdtempSync(join(tmpdir(), 'tula-reports-')), 'state'));

describe('counter reports', () => {
  it('reports deltas, and resends an unacknowledged report unchanged', () => {
    const r = new CounterReports(dir());
    const first = r.next(snap(1000, 50_000), {});
    expect(first.services[0]!.bytes).toBe(1000);
    // Not acknowledged: the same report goes again, even though the kernel counted more.
    expect(r.next(snap(3000, 90_000), {})).toEqual(first);
    r.acknowledged(first.boot, first.seq);
    const second = r.next(snap(3000, 90_000), {});
    expect(second.seq).toBe(first.seq + 1);
    expect(second.services[0]!.bytes).toBe(2000);
    expect(second.vips[0]!.bytes).toBe(40_000);
  });

  it('counts a counter that went down (a rebuilt table) from zero, never negative', () => {
    const r = new CounterReports(dir());
    const a = r.next(snap(5000, 5000), {});
    r.acknowledged(a.boot, a.seq);
    const b = r.next(snap(700, 200), {});
    expect(b.services[0]!.bytes).toBe(700);
    expect(b.vips[0]!.bytes).toBe(200);
  });

  it('survives a restart: the unacknowledged report is resent as it was, then counting continues from the last acknowledged values', () => {
    const d = dir();
    const before = new CounterReports(d);
    const acked = before.next(snap(1000, 1000), {});
    before.acknowledged(acked.boot, acked.seq);
    const lost = before.next(snap(1500, 1500), {});
    const after = new CounterReports(d);
    expect(after.next(snap(4000, 4000), {})).toEqual(lost);
    after.acknowledged(lost.boot, lost.seq);
    const next = after.next(snap(4000, 4000), {});
    expect(next.boot).not.toBe(lost.boot);
    expect(next.services[0]!.bytes).toBe(2500);
  });

  it('says which interval a report covers: from the last acknowledged read to this one, across a late acknowledgement and a restart', () => {
    const d = dir();
    const r = new CounterReports(d);
    // The first report's deltas begin before anything this agent read: no interval.
    const first = r.next(snap(1000, 0, 10_005), {});
    expect(first.from).toBeUndefined();
    r.acknowledged(first.boot, first.seq);
    // The acknowledgement of the next one is late: the read at 12.005 s is not sent; the one after covers both seconds.
    const second = r.next(snap(1400, 0, 11_005), {});
    expect(second.from).toBe(10_005);
    expect(r.next(snap(1800, 0, 12_005), {})).toEqual(second);
    r.acknowledged(second.boot, second.seq);
    const third = r.next(snap(2200, 0, 13_005), {});
    expect([third.from, third.at, third.services[0]!.bytes]).toEqual([11_005, 13_005, 800]);
    r.acknowledged(third.boot, third.seq);
    // Paused 35 s, or restarted: the next report covers the whole time since the last acknowledged read.
    const after = new CounterReports(d);
    const backlog = after.next(snap(37_200, 0, 48_005), {});
    expect([backlog.from, backlog.at, backlog.services[0]!.bytes]).toEqual([13_005, 48_005, 35_000]);
  });

  it('leaves the interval out for a panel that refused it, and only then', () => {
    const r = new CounterReports(dir());
    const a = r.next(snap(1000, 0, 10_005), {});
    r.acknowledged(a.boot, a.seq);
    const b = r.next(snap(1400, 0, 11_005), {});
    expect(forPanel(b, true)).toBe(b);
    const old = forPanel(b, false);
    expect('from' in old).toBe(false);
    expect(old).toEqual({ ...b, from: undefined });
    expect(JSON.parse(JSON.stringify(old))).not.toHaveProperty('from');
  });
});
