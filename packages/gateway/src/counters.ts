// Stores agents' counter deltas summed over the fleet: each flush writes one raw
// row per series and second (not one per agent) and upserts this replica's minute
// and hour rows, so database writes grow with services, not agents. Per-node
// detail is summed in memory and written at a 10 s step once a bucket has ended.
// A report is acknowledged only once its sums are stored, and a report seen
// before (same agent boot and sequence) is acknowledged without being counted again.
import { randomBytes } from 'node:crypto';
import type { Bus } from '@tula/control';
import type { Database, SampleValues, SeriesKind } from '@tula/db';
import type { CountersReport } from '@tula/protocol';
import { expireHistory, type RetentionPolicy } from './retention.ts';

export interface PendingReport {
  nodeId: string;
  organizationId: string;
  report: CountersReport;
  /** Called once the report is stored (or recognised as a repeat). */
  done: (stored: boolean) => void;
}

type Values = Pick<SampleValues, 'packets' | 'bytes' | 'newFlows' | 'drops'>;

interface Row extends Values {
  organizationId: string;
  /** Empty for fleet-wide sums. */
  nodeId: string;
  kind: SeriesKind;
  seriesKey: string;
  /** Start of the bucket, ms since epoch. */
  at: number;
}

/** Per-node detail is kept at this step. */
const NODE_STEP_MS = 10_000;
/** A node bucket is written this long after it ends, so late reports still land in it. */
const NODE_GRACE_MS = 5_000;

/** Sums of counter values by organisation, node, series and bucket. */
class Sums {
  private readonly byKey = new Map<string, Row>();

  add(organizationId: string, nodeId: string, kind: SeriesKind, seriesKey: string, at: number, v: Values) {
    if (!v.packets && !v.bytes && !v.newFlows && !v.drops) return;
    const key = `${organizationId}|${nodeId}|${kind}|${seriesKey}|${at}`;
    const row = this.byKey.get(key);
    if (row) {
      row.packets += v.packets;
      row.bytes += v.bytes;
      row.newFlows += v.newFlows;
      row.drops += v.drops;
    } else this.byKey.set(key, { organizationId, nodeId, kind, seriesKey, at, packets: v.packets, bytes: v.bytes, newFlows: v.newFlows, drops: v.drops });
  }

  merge(other: Sums) {
    for (const r of other.byKey.values()) this.add(r.organizationId, r.nodeId, r.kind, r.seriesKey, r.at, r);
  }

  delete(r: Row) {
    this.byKey.delete(`${r.organizationId}|${r.nodeId}|${r.kind}|${r.seriesKey}|${r.at}`);
  }

  /** Rows with traffic (series without any are never kept). */
  rows(): Row[] {
    return [...this.byKey.values()];
  }
}

/** The same sums in wider buckets; one row per key (a batch may not upsert a row twice). */
function rebucket(rows: Row[], sizeMs: number): Row[] {
  const wider = new Sums();
  for (const r of rows) wider.add(r.organizationId, r.nodeId, r.kind, r.seriesKey, Math.floor(r.at / sizeMs) * sizeMs, r);
  return wider.rows();
}

interface OrgNames {
  loadedAt: number;
  services: Map<string, { id: string; backends: Map<string, string> }>;
}

const NAMES_TTL_MS = 30_000;

export interface CounterWriterOptions {
  flushMs?: number;
  retention: RetentionPolicy;
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
  /** Identifies this process's rows; readers add up every replica's. */
  readonly replica = randomBytes(6).toString('hex');
  /** Per-node detail of the open 10 s buckets, stored reports only. */
  private readonly nodeBuckets = new Sums();
  /** Bytes and packets this process has stored, by series kind (for /metrics, without reading tables). */
  readonly totals = new Map<SeriesKind, { bytes: number; packets: number }>();
  /** Rows this process wrote, by table, and reports by outcome (for /metrics). */
  readonly written = { CounterSample: 0, CounterRollup: 0, CounterNodeSample: 0 };
  readonly reports = { stored: 0, repeated: 0, failed: 0 };

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
        this.reports.failed += batch.length;
        for (const p of batch) p.done(false);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  private async store(batch: PendingReport[]) {
    const seconds = new Sums();
    const transitions: { organizationId: string; nodeId: string; backendId: string; healthy: boolean; at: Date }[] = [];
    const cursors = new Map<string, { boot: string; seq: number; organizationId: string }>();
    const accepted: PendingReport[] = [];
    const repeats: PendingReport[] = [];
    // Per-node detail of this batch, merged into the 10 s buckets only once stored.
    const nodeDetail = new Sums();
    // Health this batch saw, remembered only once stored (a failed write's transitions are recorded on the resend).
    const health = new Map<string, boolean>();

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
      const at = Math.min(p.report.at, Date.now());
      const second = Math.floor(at / 1000) * 1000;
      const tenSeconds = Math.floor(at / NODE_STEP_MS) * NODE_STEP_MS;
      const add = (kind: SeriesKind, seriesKey: string, v: Values) => {
        seconds.add(p.organizationId, '', kind, seriesKey, second, v);
        nodeDetail.add(p.organizationId, p.nodeId, kind, seriesKey, tenSeconds, v);
      };
      for (const s of p.report.services) {
        const svc = names.services.get(s.name);
        if (!svc) continue;
        add('service', svc.id, s);
        for (const b of s.backends) {
          const backendId = svc.backends.get(b.address);
          if (!backendId) continue;
          add('backend', backendId, { packets: b.packets, bytes: b.bytes, newFlows: b.newFlows, drops: 0 });
          if (b.healthy !== null) {
            const key = `${p.nodeId}|${backendId}`;
            if ((health.get(key) ?? this.health.get(key)) !== b.healthy) {
              health.set(key, b.healthy);
              transitions.push({ organizationId: p.organizationId, nodeId: p.nodeId, backendId, healthy: b.healthy, at: new Date(at) });
            }
          }
        }
      }
      for (const v of p.report.vips) add('vip_return', v.vip, { packets: v.packets, bytes: v.bytes, newFlows: 0, drops: 0 });
    }

    const raw = seconds.rows();
    const closed = this.closedNodeBuckets(nodeDetail);
    let rollupRows = 0;
    await this.db.prisma.$transaction(async (tx) => {
      if (raw.length) {
        await tx.counterSample.createMany({
          data: raw.map((r) => ({ organizationId: r.organizationId, replica: this.replica, kind: r.kind, seriesKey: r.seriesKey, at: new Date(r.at), packets: r.packets, bytes: r.bytes, newFlows: r.newFlows, drops: r.drops })),
        });
      }
      for (const resolution of ['minute', 'hour'] as const) {
        const rows = rebucket(raw, resolution === 'minute' ? 60_000 : 3_600_000);
        if (rows.length === 0) continue;
        rollupRows += rows.length;
        await tx.$executeRaw`
          INSERT INTO "CounterRollup" ("organizationId", "resolution", "bucket", "replica", "kind", "seriesKey", "packets", "bytes", "newFlows", "drops")
          SELECT o, ${resolution}::"RollupResolution", b, ${this.replica}, k::"SeriesKind", s, p, y, f, d
          FROM unnest(${rows.map((r) => r.organizationId)}::text[], ${rows.map((r) => new Date(r.at))}::timestamptz[],
                      ${rows.map((r) => r.kind)}::text[], ${rows.map((r) => r.seriesKey)}::text[], ${rows.map((r) => r.packets)}::bigint[],
                      ${rows.map((r) => r.bytes)}::bigint[], ${rows.map((r) => r.newFlows)}::bigint[], ${rows.map((r) => r.drops)}::bigint[])
               AS t(o, b, k, s, p, y, f, d)
          ON CONFLICT ("organizationId", "resolution", "bucket", "replica", "kind", "seriesKey") DO UPDATE SET
            "packets" = "CounterRollup"."packets" + EXCLUDED."packets",
            "bytes" = "CounterRollup"."bytes" + EXCLUDED."bytes",
            "newFlows" = "CounterRollup"."newFlows" + EXCLUDED."newFlows",
            "drops" = "CounterRollup"."drops" + EXCLUDED."drops"`;
      }
      if (closed.length) {
        // A node that moved to another replica within a bucket: both replicas' parts add up.
        await tx.$executeRaw`
          INSERT INTO "CounterNodeSample" ("organizationId", "nodeId", "kind", "seriesKey", "at", "packets", "bytes", "newFlows", "drops")
          SELECT * FROM unnest(${closed.map((r) => r.organizationId)}::text[], ${closed.map((r) => r.nodeId)}::text[], ${closed.map((r) => r.kind)}::"SeriesKind"[],
                               ${closed.map((r) => r.seriesKey)}::text[], ${closed.map((r) => new Date(r.at))}::timestamptz[], ${closed.map((r) => r.packets)}::bigint[],
                               ${closed.map((r) => r.bytes)}::bigint[], ${closed.map((r) => r.newFlows)}::bigint[], ${closed.map((r) => r.drops)}::bigint[])
          ON CONFLICT ("nodeId", "kind", "seriesKey", "at") DO UPDATE SET
            "packets" = "CounterNodeSample"."packets" + EXCLUDED."packets",
            "bytes" = "CounterNodeSample"."bytes" + EXCLUDED."bytes",
            "newFlows" = "CounterNodeSample"."newFlows" + EXCLUDED."newFlows",
            "drops" = "CounterNodeSample"."drops" + EXCLUDED."drops"`;
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
    // Stored: the batch's per-node detail joins the open buckets, the written ones leave them.
    this.nodeBuckets.merge(nodeDetail);
    for (const [key, healthy] of health) this.health.set(key, healthy);
    this.written.CounterSample += raw.length;
    this.written.CounterRollup += rollupRows;
    this.written.CounterNodeSample += closed.length;
    for (const r of closed) this.nodeBuckets.delete(r);
    for (const r of raw) {
      const total = this.totals.get(r.kind) ?? { bytes: 0, packets: 0 };
      total.bytes += r.bytes;
      total.packets += r.packets;
      this.totals.set(r.kind, total);
    }
    this.reports.stored += accepted.length;
    this.reports.repeated += repeats.length;
    for (const p of accepted) p.done(true);
    for (const p of repeats) p.done(true);
    const orgs = new Set(accepted.map((p) => p.organizationId));
    for (const organizationId of orgs) await this.bus.publish({ kind: 'counters', organizationId, at: Date.now() });
  }

  /**
   * Per-node 10 s buckets that have ended (with a grace for late reports), this
   * batch's part included: written in the batch's transaction.
   */
  private closedNodeBuckets(batch: Sums): Row[] {
    const end = Date.now() - NODE_STEP_MS - NODE_GRACE_MS;
    const all = new Sums();
    all.merge(this.nodeBuckets);
    all.merge(batch);
    return all.rows().filter((r) => r.at < end);
  }

  private async expire() {
    await expireHistory(this.db, this.options.retention).catch((err: Error) => this.options.log(`retention: expiring old rows failed: ${err.message}`));
  }

  async close() {
    clearInterval(this.timer);
    clearInterval(this.cleanup);
    await this.flush();
  }
}

