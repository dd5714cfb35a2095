// Stores agents' counter deltas: raw samples (kept for a configurable number of
// hours) and minute and hour rollups maintained by upsert, in batches. A report
// is acknowledged only once stored, and a report seen before (same agent boot
// and sequence) is acknowledged without being counted again.
import type { Bus } from '@tula/control';
import type { Database, SampleValues, SeriesKind } from '@tula/db';
import type { CountersReport } from '@tula/protocol';

export interface PendingReport {
  nodeId: string;
  organizationId: string;
  report: CountersReport;
  /** Called once the report is stored (or recognised as a repeat). */
  done: (stored: boolean) => void;
}

interface Sample extends SampleValues {
  organizationId: string;
}

interface OrgNames {
  loadedAt: number;
  services: Map<string, { id: string; backends: Map<string, string> }>;
}

const NAMES_TTL_MS = 30_000;

export interface CounterWriterOptions {
  flushMs?: number;
  retentionHours: number;
  log: (m: string) => void;
}

export class CounterWriter {
  private queue: PendingReport[] = [];
  private readonly names = new Map<string, OrgNames>();
  /** Last health seen per (node, service, backend), to record transitions. */
  private readonly health = new Map<string, boolean>();
  private readonly timer: NodeJS.Timeout;
  private readonly cleanup: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  /** Bytes and packets this process has stored, by series kind (for /metrics, without reading tables). */
  readonly totals = new Map<SeriesKind, { bytes: number; packets: number }>();

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
    private readonly options: CounterWriterOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 1000);
    this.cleanup = setInterval(() => void this.expire(), 10 * 60_000);
  }

  push(p: PendingReport) {
    this.queue.push(p);
  }

  /** Forget cached names of an organisation (its services changed). */
  invalidate(organizationId: string) {
    this.names.delete(organizationId);
  }

  private async namesOf(organizationId: string): Promise<OrgNames> {
    const cached = this.names.get(organizationId);
    if (cached && Date.now() - cached.loadedAt < NAMES_TTL_MS) return cached;
    const services = await this.db.prisma.service.findMany({
      where: { organizationId },
      select: { id: true, name: true, backends: { select: { id: true, address: true } } },
    });
    const names: OrgNames = {
      loadedAt: Date.now(),
      services: new Map(services.map((s) => [s.name, { id: s.id, backends: new Map(s.backends.map((b) => [b.address, b.id])) }])),
    };
    this.names.set(organizationId, names);
    return names;
  }

  async flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.flushing = this.store(batch)
      .catch((err: Error) => {
        this.options.log(`counters: a batch of ${batch.length} reports was not stored (${err.message}); agents will resend`);
        for (const p of batch) p.done(false);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  private async store(batch: PendingReport[]) {
    const samples: Sample[] = [];
    const transitions: { organizationId: string; nodeId: string; backendId: string; healthy: boolean; at: Date }[] = [];
    const cursors = new Map<string, { boot: string; seq: number; organizationId: string }>();
    const accepted: PendingReport[] = [];
    const repeats: PendingReport[] = [];

    const nodeIds = [...new Set(batch.map((p) => p.nodeId))];
    const stored = new Map(
      (await this.db.prisma.counterCursor.findMany({ where: { nodeId: { in: nodeIds } }, select: { nodeId: true, boot: true, seq: true } })).map((c) => [c.nodeId, c]),
    );
    for (const p of batch) {
      const { boot, seq } = p.report;
      const last = cursors.get(p.nodeId) ?? stored.get(p.nodeId);
      if (last && last.boot === boot && seq <= last.seq) {
        repeats.push(p);
        continue;
      }
      cursors.set(p.nodeId, { boot, seq, organizationId: p.organizationId });
      accepted.push(p);
      const names = await this.namesOf(p.organizationId);
      const at = new Date(Math.min(p.report.at, Date.now()));
      const base = { organizationId: p.organizationId, nodeId: p.nodeId, at };
      for (const s of p.report.services) {
        const svc = names.services.get(s.name);
        if (!svc) continue;
        samples.push({ ...base, kind: 'service', seriesKey: svc.id, packets: s.packets, bytes: s.bytes, newFlows: s.newFlows, drops: s.drops });
        for (const b of s.backends) {
          const backendId = svc.backends.get(b.address);
          if (!backendId) continue;
          samples.push({ ...base, kind: 'backend', seriesKey: backendId, packets: b.packets, bytes: b.bytes, newFlows: b.newFlows, drops: 0 });
          if (b.healthy !== null) {
            const key = `${p.nodeId}|${backendId}`;
            if (this.health.get(key) !== b.healthy) {
              this.health.set(key, b.healthy);
              transitions.push({ organizationId: p.organizationId, nodeId: p.nodeId, backendId, healthy: b.healthy, at });
            }
          }
        }
      }
      for (const v of p.report.vips) {
        samples.push({ ...base, kind: 'vip_return', seriesKey: v.vip, packets: v.packets, bytes: v.bytes, newFlows: 0, drops: 0 });
      }
    }

    const nonZero = samples.filter((s) => s.packets || s.bytes || s.newFlows || s.drops);
    await this.db.prisma.$transaction(async (tx) => {
      if (nonZero.length) await tx.counterSample.createMany({ data: nonZero });
      for (const resolution of ['minute', 'hour'] as const) {
        const rows = rollup(nonZero, resolution);
        if (rows.length === 0) continue;
        await tx.$executeRaw`
          INSERT INTO "CounterRollup" ("organizationId", "resolution", "bucket", "nodeId", "kind", "seriesKey", "packets", "bytes", "newFlows", "drops")
          SELECT o, ${resolution}::"RollupResolution", b, n, k::"SeriesKind", s, p, y, f, d
          FROM unnest(${rows.map((r) => r.organizationId)}::text[], ${rows.map((r) => r.bucket)}::timestamptz[], ${rows.map((r) => r.nodeId)}::text[],
                      ${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.seriesKey)}::text[], ${rows.map((r) => r.packets)}::bigint[],
                      ${rows.map((r) => r.bytes)}::bigint[], ${rows.map((r) => r.newFlows)}::bigint[], ${rows.map((r) => r.drops)}::bigint[])
               AS t(o, b, n, k, s, p, y, f, d)
          ON CONFLICT ("organizationId", "resolution", "bucket", "nodeId", "kind", "seriesKey") DO UPDATE SET
            "packets" = "CounterRollup"."packets" + EXCLUDED."packets",
            "bytes" = "CounterRollup"."bytes" + EXCLUDED."bytes",
            "newFlows" = "CounterRollup"."newFlows" + EXCLUDED."newFlows",
            "drops" = "CounterRollup"."drops" + EXCLUDED."drops"`;
      }
      if (transitions.length) await tx.healthTransition.createMany({ data: transitions });
      if (cursors.size) {
        // One statement for every node, in id order (another replica's batch may hold some of them).
        const rows = [...cursors].sort(([a], [b]) => (a < b ? -1 : 1));
        await tx.$executeRaw`
          INSERT INTO "CounterCursor" ("nodeId", "organizationId", "boot", "seq")
          SELECT * FROM unnest(${rows.map(([id]) => id)}::text[], ${rows.map(([, c]) => c.organizationId)}::text[], ${rows.map(([, c]) => c.boot)}::text[], ${rows.map(([, c]) => c.seq)}::int[])
          ON CONFLICT ("nodeId") DO UPDATE SET "boot" = EXCLUDED."boot", "seq" = EXCLUDED."seq"`;
      }
    }, { timeout: 30_000 });
    for (const sample of nonZero) {
      const total = this.totals.get(sample.kind) ?? { bytes: 0, packets: 0 };
      total.bytes += sample.bytes;
      total.packets += sample.packets;
      this.totals.set(sample.kind, total);
    }
    for (const p of accepted) p.done(true);
    for (const p of repeats) p.done(true);
    const orgs = new Set(accepted.map((p) => p.organizationId));
    for (const organizationId of orgs) await this.bus.publish({ kind: 'counters', organizationId, at: Date.now() });
  }

  private async expire() {
    const cutoff = new Date(Date.now() - this.options.retentionHours * 3600_000);
    await this.db.prisma.counterSample.deleteMany({ where: { at: { lt: cutoff } } }).catch((err: Error) => this.options.log(`counters: expiring old samples failed: ${err.message}`));
  }

  async close() {
    clearInterval(this.timer);
    clearInterval(this.cleanup);
    await this.flush();
  }
}


/** Sums samples into buckets; one row per key (a batch may not upsert a row twice). */
function rollup(samples: Sample[], resolution: 'minute' | 'hour') {
  const size = resolution === 'minute' ? 60_000 : 3_600_000;
  const rows = new Map<string, { organizationId: string; bucket: Date; nodeId: string; kind: SeriesKind; seriesKey: string; packets: number; bytes: number; newFlows: number; drops: number }>();
  for (const s of samples) {
    const bucket = new Date(Math.floor(s.at.getTime() / size) * size);
    const key = `${s.organizationId}|${bucket.getTime()}|${s.nodeId}|${s.kind}|${s.seriesKey}`;
    const row = rows.get(key);
    if (row) {
      row.packets += s.packets;
      row.bytes += s.bytes;
      row.newFlows += s.newFlows;
      row.drops += s.drops;
    } else rows.set(key, { organizationId: s.organizationId, bucket, nodeId: s.nodeId, kind: s.kind, seriesKey: s.seriesKey, packets: s.packets, bytes: s.bytes, newFlows: s.newFlows, drops: s.drops });
  }
  return [...rows.values()];
}
