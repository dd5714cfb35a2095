// Turns the kernel's cumulative counters into deltas the panel can add up.
// One report is in flight at a time and is resent unchanged until the panel
// acknowledges it; the panel drops a report it already stored. So an outage or
// a restart neither loses nor doubles counts, and a counter that went down (a
// table rebuilt) counts from zero instead of going negative.
import { randomBytes } from 'node:crypto';
import { backendKey, CountersReport } from '@tula/protocol';
import { z } from 'zod';
import type { CounterSnapshot } from '../dataplane/counters.ts';
import type { BackendHealth } from '../health/checker.ts';
import type { StateDir } from '../state-dir.ts';

const FILE = 'counter-reports.json';
type Values = Record<string, number>;
const Saved = z.object({
  baseline: z.record(z.string(), z.number()),
  /** When the baseline was read (absent in files of older agents). */
  baselineAt: z.number().optional(),
  inflight: z.object({ report: z.unknown(), values: z.record(z.string(), z.number()) }).nullable(),
});

/** Flattens a snapshot to series -> value. */
function flatten(s: CounterSnapshot): Values {
  const v: Values = {};
  for (const [name, svc] of Object.entries(s.services)) {
    v[`s|${name}|p`] = svc.packets;
    v[`s|${name}|b`] = svc.bytes;
    v[`s|${name}|n`] = svc.newFlows;
    v[`s|${name}|d`] = svc.drops;
    for (const [addr, b] of Object.entries(svc.backends)) {
      v[`b|${name}|${addr}|p`] = b.packets;
      v[`b|${name}|${addr}|b`] = b.bytes;
      v[`b|${name}|${addr}|n`] = b.newFlows;
    }
  }
  for (const [vip, t] of Object.entries(s.vips)) {
    v[`v|${vip}|p`] = t.packets;
    v[`v|${vip}|b`] = t.bytes;
  }
  return v;
}

/**
 * The report as this panel takes it: a panel older than the report's interval
 * (`from`) refuses the field and closes the connection, so to one that did
 * (`withInterval` false) the report goes without it and is counted in the
 * second of `at`, as before.
 */
export function forPanel(report: CountersReport, withInterval: boolean): CountersReport {
  if (withInterval || report.from === undefined) return report;
  const { from: _from, ...rest } = report;
  return rest;
}

export class CounterReports {
  readonly boot = randomBytes(8).toString('hex');
  private seq = 0;
  private baseline: Values = {};
  /** When the baseline was read: where the next report's deltas begin (unknown before the first acknowledged report). */
  private baselineAt: number | undefined;
  private inflight: { report: CountersReport; values: Values } | null = null;

  constructor(private readonly dir: StateDir) {
    const saved = dir.read(FILE, Saved);
    if (saved) {
      this.baseline = saved.baseline;
      this.baselineAt = saved.baselineAt;
      const report = saved.inflight && CountersReport.safeParse(saved.inflight.report);
      if (saved.inflight && report?.success) this.inflight = { report: report.data, values: saved.inflight.values };
    }
  }

  private save() {
    this.dir.write(FILE, { baseline: this.baseline, baselineAt: this.baselineAt, inflight: this.inflight });
  }

  /** The report to send now: the unacknowledged one again, or a new one from `snapshot`. */
  next(snapshot: CounterSnapshot, health: Record<string, BackendHealth>): CountersReport {
    if (this.inflight) return this.inflight.report;
    const values = flatten(snapshot);
    const delta = (k: string) => {
      const now = values[k] ?? 0;
      const before = this.baseline[k] ?? 0;
      return now >= before ? now - before : now;
    };
    const report: CountersReport = {
      type: 'counters',
      boot: this.boot,
      seq: ++this.seq,
      at: snapshot.at,
      // The interval the deltas cover: a report after a late acknowledgement or a pause spans several seconds.
      ...(this.baselineAt !== undefined && this.baselineAt < snapshot.at && { from: this.baselineAt }),
      services: Object.entries(snapshot.services).map(([name, svc]) => ({
        name,
        packets: delta(`s|${name}|p`),
        bytes: delta(`s|${name}|b`),
        newFlows: delta(`s|${name}|n`),
        drops: delta(`s|${name}|d`),
        backends: Object.keys(svc.backends).map((addr) => ({
          address: addr,
          packets: delta(`b|${name}|${addr}|p`),
          bytes: delta(`b|${name}|${addr}|b`),
          newFlows: delta(`b|${name}|${addr}|n`),
          healthy: health[backendKey(name, addr)]?.healthy ?? null,
        })),
      })),
      vips: Object.keys(snapshot.vips).map((vip) => ({ vip, packets: delta(`v|${vip}|p`), bytes: delta(`v|${vip}|b`) })),
    };
    this.inflight = { report, values };
    this.save();
    return report;
  }

  /** The panel stored the report: its values become the new baseline. */
  acknowledged(boot: string, seq: number) {
    if (!this.inflight || this.inflight.report.boot !== boot || this.inflight.report.seq !== seq) return;
    this.baseline = this.inflight.values;
    this.baselineAt = this.inflight.report.at;
    this.inflight = null;
    this.save();
  }

  get waiting(): boolean {
    return this.inflight !== null;
  }
}
