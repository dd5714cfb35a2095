// Stores agents' counter deltas summed over the fleet: each flush writes one raw
// row per series and second (not one per agent) and upserts this replica's minute
// and hour rows, so database writes grow with services, not agents. Per-node
// detail is summed in memory and written at a 10 s step once a bucket has ended,
// one row per series and bucket with every node's part in arrays.
// A report is acknowledged only once its sums are stored, and a report seen
// before (same agent boot and sequence) is acknowledged without being counted again:
// each flush writes the cursors of the reports it stored in one row per
// organisation (CounterCursorBatch), and the replica keeps its connected agents'
// cursors in memory, reading that table only for an agent new to it.
import { randomBytes } from 'node:crypto';
import type { Bus } from '@tula/control';
import type { Database, SampleValues, SeriesKind } from '@tula/db';
import { empty, poolQuery, poolTransaction, sql, utcTimestamp } from '@tula/db/pool-sql';
import { WATERMARK_BOUND_MS } from '@tula/db/samples';
import type { CountersReport } from '@tula/protocol';
import { maintainPartitions, type RetentionPolicy } from './retention.ts';

export interface PendingReport {
  nodeId: string;
  organizationId: string;
  report: CountersReport;
  /** Called once the report is stored (or recognised as a repeat). */
  done: (stored: boolean) => void;
}

type Values = Pick<SampleValues, 'packets' | 'bytes' | 'newFlows' | 'drops'>;

/** One series of an organisation, interned (one object per series) so that sums key it by identity, without building a string per value. */
interface Series {
  organizationId: string;
  kind: SeriesKind;
  seriesKey: string;
}

interface Row extends Values {
  series: Series;
  /** Empty for fleet-wide sums. */
  nodeId: string;
  /** Start of the bucket, ms since epoch. */
  at: number;
}

/** The sums of one node (or of the fleet) in one bucket, by series. */
type Cells = Map<Series, Row>;

/** Per-node detail is kept at this step. */
const NODE_STEP_MS = 10_000;
/** A node bucket is written this long after it ends, so late reports still land in it. */
const NODE_GRACE_MS = 5_000;

/** A report covering longer than this is spread over this many slices at most (one row per series and slice). */
const MAX_SLICES = 120;
/** A report's interval is counted back at most this far from its end (older raw partitions may be expired). */
const MAX_SPAN_MS = 3_600_000;

/** Where a share of a report's deltas goes: the start of its second, and its part of the interval (weights add up to 1). */
export interface Slice {
  at: number;
  weight: number;
}

/**
 * The seconds a report covering [from, to) falls in, each weighted by how much
 * of the interval it holds. Without `from` (an older agent), or for an empty
 * interval, the whole report is in the second of `to`. A long interval (an
 * agent paused or cut off) is cut into at most MAX_SLICES slices of whole
 * seconds, each at its first second.
 */
export function slicesOf(from: number | undefined, to: number): Slice[] {
  const end = Math.floor(to / 1000) * 1000;
  if (from === undefined || from >= to) return [{ at: end, weight: 1 }];
  const start = Math.max(from, to - MAX_SPAN_MS);
  const span = to - start;
  const first = Math.floor(start / 1000) * 1000;
  const step = Math.ceil((end + 1000 - first) / 1000 / MAX_SLICES) * 1000;
  const slices: Slice[] = [];
  for (let at = first; at < to; at += step) {
    const part = Math.min(at + step, to) - Math.max(at, start);
    if (part > 0) slices.push({ at, weight: part / span });
  }
  return slices;
}

/** `value` cut into whole parts by `slices`' weights (largest remainder), so the parts add up to it exactly. */
export function share(value: number, slices: Slice[]): number[] {
  const parts = new Float64Array(slices.length);
  shareInto(value, slices, parts);
  return [...parts];
}

let remainders = new Float64Array(MAX_SLICES + 2);
let given = new Uint8Array(MAX_SLICES + 2);

/** `share` written into `parts` (no allocation: it runs for every value of every report that spans seconds). */
function shareInto(value: number, slices: Slice[], parts: Float64Array) {
  const n = slices.length;
  if (remainders.length < n) [remainders, given] = [new Float64Array(n), new Uint8Array(n)];
  let left = value;
  for (let i = 0; i < n; i++) {
    const exact = value * slices[i]!.weight;
    parts[i] = Math.floor(exact);
    remainders[i] = exact - parts[i]!;
    given[i] = 0;
    left -= parts[i]!;
  }
  // One more to each of the largest remainders (ties: the later slice), again from the largest after a round.
  for (let k = 0; left > 0; k++, left--) {
    if (k > 0 && k % n === 0) given.fill(0, 0, n);
    let best = -1;
    for (let i = 0; i < n; i++) if (!given[i] && (best < 0 || remainders[i]! >= remainders[best]!)) best = i;
    parts[best] = parts[best]! + 1;
    given[best] = 1;
  }
}

/** Sums of counter values by bucket, node and series. */
class Sums {
  readonly byAt = new Map<number, Map<string, Cells>>();

  /** The cells of `nodeId` ('' for the fleet) in the bucket at `at`, created when missing. */
  cells(at: number, nodeId: string): Cells {
    let nodes = this.byAt.get(at);
    if (!nodes) this.byAt.set(at, (nodes = new Map()));
    let cells = nodes.get(nodeId);
    if (!cells) nodes.set(nodeId, (cells = new Map()));
    return cells;
  }

  /** Adds to `cells` (of bucket `at`, node `nodeId`); series without traffic are never kept. */
  static add(cells: Cells, series: Series, nodeId: string, at: number, packets: number, bytes: number, newFlows: number, drops: number) {
    if (!packets && !bytes && !newFlows && !drops) return;
    const row = cells.get(series);
    if (row) {
      row.packets += packets;
      row.bytes += bytes;
      row.newFlows += newFlows;
      row.drops += drops;
    } else cells.set(series, { series, nodeId, at, packets, bytes, newFlows, drops });
  }

  /** Adds a copy of `r` (the other's rows stay its own). */
  addRow(r: Row, at = r.at) {
    Sums.add(this.cells(at, r.nodeId), r.series, r.nodeId, at, r.packets, r.bytes, r.newFlows, r.drops);
  }

  /** Adds `other`'s rows, taking over its cells where this has none for a node (`other` must not be used after). */
  absorb(other: Sums) {
    for (const [at, nodes] of other.byAt) {
      const mine = this.byAt.get(at);
      if (!mine) {
        this.byAt.set(at, nodes);
        continue;
      }
      for (const [nodeId, cells] of nodes) {
        const target = mine.get(nodeId);
        if (!target) mine.set(nodeId, cells);
        else for (const r of cells.values()) Sums.add(target, r.series, nodeId, at, r.packets, r.bytes, r.newFlows, r.drops);
      }
    }
  }

  /** Rows with traffic (of the buckets before `before`, if given). */
  rows(before = Infinity): Row[] {
    const rows: Row[] = [];
    for (const [at, nodes] of this.byAt) if (at < before) for (const cells of nodes.values()) for (const r of cells.values()) rows.push(r);
    return rows;
  }
}

/** The same sums in wider buckets; one row per key (a batch may not upsert a row twice). */
function rebucket(rows: Row[], sizeMs: number): Row[] {
  const wider = new Sums();
  for (const r of rows) wider.addRow(r, Math.floor(r.at / sizeMs) * sizeMs);
  return wider.rows();
}

interface OrgNames {
  loadedAt: number;
  services: Map<string, { series: Series; backends: Map<string, Series> }>;
  /** Return-path series by VIP, filled as reports name them. */
  vips: Map<string, Series>;
}

const NAMES_TTL_MS = 30_000;

/** One stored flush of this replica: its rows by organisation, as the live stream serves them. */
export interface StoredBatch {
  batch: number;
  rows: Map<string, SampleValues[]>;
}

/**
 * Replicas' clocks are taken to agree within this: when a node's newest stored cursor is looked up,
 * cursors stored up to this long before the newest row holding the node count too (a node that moved
 * between replicas has rows of both, and batch times come from each replica's clock).
 */
const CLOCK_SKEW_MS = 10_000;

/** A node's newest stored cursor: its agent's boot, and the highest sequence stored of that boot. */
interface Cursor {
  boot: string;
  seq: number;
}

/** Per-node rows kept for the next write while the database refuses them (about 40 s of 5,000 agents × 50 series). */
const MAX_UNWRITTEN_NODE_ROWS = 1_000_000;

/**
 * A bigint[] parameter as PostgreSQL's array text, joined here: the driver escapes each element of an array
 * parameter one by one, which for the per-node rows' hundreds of thousands of integers cost more than the query.
 */
function numbers(values: number[]): string {
  return `{${values.join(',')}}`;
}

/** Flushes kept in memory for the live stream (about ten minutes at one flush a second). */
const RECENT_BATCHES = 600;

export interface CounterWriterOptions {
  flushMs?: number;
  retention: RetentionPolicy;
  log: (m: string) => void;
}

export class CounterWriter {
  private queue: PendingReport[] = [];
  private readonly names = new Map<string, OrgNames>();
  /** Bumped per organisation by invalidate: names read while it moved are read again, never kept. */
  private readonly namesGeneration = new Map<string, number>();
  /** Last health seen per node and backend, to record transitions. */
  private readonly health = new Map<string, Map<Series, boolean>>();
  /** Every series by organisation, kind and key: one object each, across reloads of the names. */
  private readonly series = new Map<string, Series>();
  private readonly timer: NodeJS.Timeout;
  private readonly cleanup: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;
  /** A flush was asked for while one ran. */
  private overrun = false;
  /** Ended per-node buckets not yet written, and the write under way (writeNodeRows). */
  private unwrittenNodeRows: Row[] = [];
  private nodeWriting: Promise<void> | undefined;
  private lastNodeBatch = 0;
  /** Identifies this process's rows; readers add up every replica's. */
  readonly replica = randomBytes(6).toString('hex');
  /** Memory holds every batch of this replica after this id (at first: its start, before its first batch). */
  private coveredFrom = Date.now() - 1;
  /** Per-node detail of the open 10 s buckets, stored reports only. */
  private readonly nodeBuckets = new Sums();
  /** Bytes and packets this process has stored, by series kind (for /metrics, without reading tables). */
  readonly totals = new Map<SeriesKind, { bytes: number; packets: number }>();
  /** Rows this process wrote, by table, and reports by outcome (for /metrics). */
  readonly written = { CounterSample: 0, CounterRollup: 0, CounterNodeSample: 0, CounterCursorBatch: 0 };
  readonly reports = { stored: 0, repeated: 0, failed: 0 };
  /** The newest flush's batch id; ids increase in commit order (flushes never overlap). */
  private lastBatch = 0;
  /** The newest stored flushes, oldest first, for the live stream. */
  private readonly recent: StoredBatch[] = [];
  private readonly storedListeners = new Set<() => void>();
  /** Agents connected to this replica that report counters: the end (`at`) of each one's newest stored report. */
  private readonly reporting = new Map<string, { organizationId: string; storedThrough: number }>();
  /** Organisations whose watermark row this replica wrote last flush (deleted once none of their agents is here). */
  private watermarkOrgs = new Set<string>();
  /**
   * The newest stored cursor of each agent connected here, since it connected: every report of an agent
   * comes through its one connection, so while it lasts nothing else stores that agent's reports. Forgotten
   * when a connection opens or closes (the agent may have reported to another replica meanwhile).
   */
  private readonly cursors = new Map<string, Cursor>();
  /** Connections opened or closed per node: a flush remembers a cursor only if its node's count did not change meanwhile. */
  private readonly connections = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly bus: Bus,
    private readonly options: CounterWriterOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushMs ?? 1000);
    this.cleanup = setInterval(() => void this.maintain(), 10 * 60_000);
    // Partitions ahead from the start: a panel that was down for days finds today's missing.
    void this.maintain();
  }

  push(p: PendingReport) {
    // Until its first report here is stored, an agent's counters are stored through where that report starts.
    if (!this.reporting.has(p.nodeId))
      this.reporting.set(p.nodeId, { organizationId: p.organizationId, storedThrough: p.report.from ?? p.report.at });
    this.queue.push(p);
  }

  /** An agent connected: what this replica remembers of its cursor may be out of date (it may have reported elsewhere). */
  connected(nodeId: string) {
    this.forgetCursor(nodeId);
  }

  /** The agent's socket closed: it no longer holds its organisation's watermark back, and its cursor is read again when it returns. */
  disconnected(nodeId: string) {
    this.reporting.delete(nodeId);
    this.forgetCursor(nodeId);
  }

  private forgetCursor(nodeId: string) {
    this.cursors.delete(nodeId);
    this.connections.set(nodeId, (this.connections.get(nodeId) ?? 0) + 1);
  }

  /**
   * The newest stored cursors of nodes this replica holds none for, by node and boot (the highest sequence
   * stored of each boot near the node's newest row). Newest rows first: the newest row holding any of the
   * nodes, found through the GIN index on "nodeIds" without reading the arrays, then the arrays of the rows
   * within CLOCK_SKEW_MS before it; the nodes found there are done, the rest are looked for in older rows.
   * A node never stored costs one index probe; a day of rows is never unnested.
   */
  /**
   * The time of the newest row holding any of `nodeIds` (before `before`, if given), found through the GIN index
   * alone: a plan reading rows in time order would detoast every row's arrays to test them (most of a day's for
   * a node never stored). On a connection of the pool, not in a Prisma transaction: it waits for a free
   * connection as long as it takes, where a transaction would fail the flush after 2 s of waiting.
   */
  private async newestRowHolding(nodeIds: string[], before: Date | null): Promise<Date | null> {
    return poolTransaction(this.db.pool, async (client) => {
      await client.query('SET LOCAL enable_seqscan = off');
      await client.query('SET LOCAL enable_indexscan = off');
      await client.query('SET LOCAL enable_indexonlyscan = off');
      // In ms since the epoch: the driver would read a timestamp without time zone in the process's zone.
      const { rows } = await poolQuery<{ ms: number | null }>(
        client,
        sql`SELECT (extract(epoch FROM max("at")) * 1000)::float8 AS ms FROM "CounterCursorBatch"
            WHERE "nodeIds" && ${nodeIds}::text[] ${before ? sql`AND "at" < ${utcTimestamp(before.getTime())}` : empty}`,
      );
      const ms = rows[0]?.ms;
      return ms == null ? null : new Date(ms);
    });
  }

  private async storedCursors(nodeIds: string[]): Promise<Map<string, Map<string, number>>> {
    const found = new Map<string, Map<string, number>>();
    let remaining = nodeIds;
    let before: Date | null = null;
    while (remaining.length) {
      const newest = await this.newestRowHolding(remaining, before);
      if (!newest) break;
      const from = new Date(newest.getTime() - CLOCK_SKEW_MS);
      const { rows } = await poolQuery<{ nodeId: string; boot: string; seq: number }>(
        this.db.pool,
        sql`SELECT u.n AS "nodeId", u.b AS "boot", max(u.s)::int AS "seq"
            FROM "CounterCursorBatch" c, unnest(c."nodeIds", c."boots", c."seqs") AS u(n, b, s)
            WHERE c."nodeIds" && ${remaining}::text[] AND c."at" >= ${utcTimestamp(from.getTime())} AND c."at" <= ${utcTimestamp(newest.getTime())}
              AND u.n = ANY(${remaining}::text[])
            GROUP BY 1, 2`,
      );
      for (const r of rows) {
        let boots = found.get(r.nodeId);
        if (!boots) found.set(r.nodeId, (boots = new Map()));
        boots.set(r.boot, Math.max(boots.get(r.boot) ?? 0, r.seq));
      }
      remaining = remaining.filter((id) => !found.has(id));
      before = from;
    }
    return found;
  }

  /** Forget cached names of an organisation (its services changed). */
  invalidate(organizationId: string) {
    this.names.delete(organizationId);
    this.namesGeneration.set(organizationId, (this.namesGeneration.get(organizationId) ?? 0) + 1);
  }

  private async namesOf(organizationId: string): Promise<OrgNames> {
    const cached = this.names.get(organizationId);
    if (cached && Date.now() - cached.loadedAt < NAMES_TTL_MS) return cached;
    const generation = this.namesGeneration.get(organizationId) ?? 0;
    const services = await this.db.prisma.service.findMany({
      where: { organizationId },
      select: { id: true, name: true, backends: { select: { id: true, address: true } } },
    });
    // The services changed while they were read (a service created, its balancers told): what was read may
    // predate the change, and kept it would drop the new service's counters for the names' whole lifetime.
    if ((this.namesGeneration.get(organizationId) ?? 0) !== generation) return this.namesOf(organizationId);
    const names: OrgNames = {
      loadedAt: Date.now(),
      services: new Map(
        services.map((s) => [
          s.name,
          {
            series: this.seriesOf(organizationId, 'service', s.id),
            backends: new Map(s.backends.map((b) => [b.address, this.seriesOf(organizationId, 'backend', b.id)])),
          },
        ]),
      ),
      vips: cached?.vips ?? new Map(),
    };
    this.names.set(organizationId, names);
    return names;
  }

  private seriesOf(organizationId: string, kind: SeriesKind, seriesKey: string): Series {
    const key = `${organizationId}|${kind}|${seriesKey}`;
    let series = this.series.get(key);
    if (!series) this.series.set(key, (series = { organizationId, kind, seriesKey }));
    return series;
  }

  async flush(): Promise<void> {
    if (this.flushing) {
      this.overrun = true;
      return this.flushing.then(() => this.nodeWriting);
    }
    const batch = this.queue;
    // With agents connected (or just gone) a flush runs even without reports: their watermark is written (or deleted).
    if (batch.length === 0 && this.reporting.size === 0 && this.watermarkOrgs.size === 0) return;
    this.queue = [];
    this.flushing = this.store(batch)
      .catch((err: Error) => {
        this.options.log(`counters: a batch of ${batch.length} reports was not stored (${err.message}); agents will resend`);
        this.reports.failed += batch.length;
        for (const p of batch) p.done(false);
      })
      .finally(() => {
        this.flushing = undefined;
        // A flush that outlasted the timer's period starts the next at once, not at the next tick: waiting
        // for it added up to a period to every report's way to the live chart.
        if (this.overrun) {
          this.overrun = false;
          void this.flush();
        }
      });
    // The caller's promise also waits for the per-node rows this flush handed over (the next flush need not).
    return this.flushing.then(() => this.nodeWriting);
  }

  /** Stored flushes after `after` (a batch id), oldest first; undefined when memory no longer reaches back that far. */
  since(after: number): StoredBatch[] | undefined {
    if (after < this.coveredFrom) return undefined;
    return this.recent.filter((b) => b.batch > after);
  }

  /** The newest stored batch id (0 before the first). */
  get newestBatch(): number {
    return this.lastBatch;
  }

  /** Calls `listener` after every stored flush; returns the unsubscribe. */
  onStored(listener: () => void): () => void {
    this.storedListeners.add(listener);
    return () => void this.storedListeners.delete(listener);
  }

  private async store(batch: PendingReport[]) {
    const batchId = Math.max(this.lastBatch + 1, Date.now());
    const seconds = new Sums();
    const transitions: { organizationId: string; nodeId: string; backendId: string; healthy: boolean; at: number }[] = [];
    // The cursors this batch stores, by node (remembered once stored).
    const cursors = new Map<string, Cursor & { organizationId: string }>();
    const accepted: PendingReport[] = [];
    const repeats: PendingReport[] = [];
    // Per-node detail of this batch, merged into the 10 s buckets only once stored.
    const nodeDetail = new Sums();
    // Health this batch saw, remembered only once stored (a failed write's transitions are recorded on the resend).
    const health = new Map<string, Map<Series, boolean>>();
    const parts = [0, 1, 2, 3].map(() => new Float64Array(MAX_SLICES + 2));

    // Connections of the batch's nodes as the batch starts: a cursor is remembered only if none opened or closed since.
    const generation = new Map(batch.map((p) => [p.nodeId, this.connections.get(p.nodeId) ?? 0]));
    // The database is read only for nodes this replica has no cursor for (new here, or reconnected).
    const unknown = [...generation.keys()].filter((id) => !this.cursors.has(id));
    const looked = unknown.length ? await this.storedCursors(unknown) : new Map<string, Map<string, number>>();
    // Cursors read from the database that a repeated report matched (remembered once the batch is stored).
    const matched = new Map<string, Cursor>();
    for (const p of batch) {
      const { boot, seq } = p.report;
      const last = cursors.get(p.nodeId) ?? this.cursors.get(p.nodeId);
      // Another boot than the newest stored one is a new boot (an agent resends its in-flight report before
      // its new boot's first); a node read from the database is compared within its boot, whatever replica stored it.
      const highest = last ? (last.boot === boot ? last.seq : undefined) : looked.get(p.nodeId)?.get(boot);
      if (highest !== undefined && seq <= highest) {
        if (!last) matched.set(p.nodeId, { boot, seq: highest });
        repeats.push(p);
        continue;
      }
      cursors.set(p.nodeId, { boot, seq, organizationId: p.organizationId });
      accepted.push(p);
      const names = await this.namesOf(p.organizationId);
      const now = Date.now();
      const at = Math.min(p.report.at, now);
      // The report's deltas over the seconds it covers (shifted with `at` when the agent's clock runs ahead).
      const slices = slicesOf(p.report.from === undefined ? undefined : p.report.from - (p.report.at - at), at);
      if (parts[0]!.length < slices.length) for (let k = 0; k < 4; k++) parts[k] = new Float64Array(slices.length);
      const [packetParts, byteParts, flowParts, dropParts] = parts as [Float64Array, Float64Array, Float64Array, Float64Array];
      // Each slice's fleet-wide second and this node's 10 s bucket, looked up once per report.
      const fleetCells = slices.map((slice) => seconds.cells(slice.at, ''));
      const nodeAt = slices.map((slice) => Math.floor(slice.at / NODE_STEP_MS) * NODE_STEP_MS);
      const nodeCells = nodeAt.map((bucket) => nodeDetail.cells(bucket, p.nodeId));
      const add = (series: Series, packets: number, bytes: number, newFlows: number, drops: number) => {
        if (slices.length === 1) {
          Sums.add(fleetCells[0]!, series, '', slices[0]!.at, packets, bytes, newFlows, drops);
          Sums.add(nodeCells[0]!, series, p.nodeId, nodeAt[0]!, packets, bytes, newFlows, drops);
          return;
        }
        shareInto(packets, slices, packetParts);
        shareInto(bytes, slices, byteParts);
        shareInto(newFlows, slices, flowParts);
        shareInto(drops, slices, dropParts);
        for (let i = 0; i < slices.length; i++) {
          Sums.add(fleetCells[i]!, series, '', slices[i]!.at, packetParts[i]!, byteParts[i]!, flowParts[i]!, dropParts[i]!);
          Sums.add(nodeCells[i]!, series, p.nodeId, nodeAt[i]!, packetParts[i]!, byteParts[i]!, flowParts[i]!, dropParts[i]!);
        }
      };
      const seenHealth = this.health.get(p.nodeId);
      let batchHealth = health.get(p.nodeId);
      for (const s of p.report.services) {
        const svc = names.services.get(s.name);
        if (!svc) continue;
        add(svc.series, s.packets, s.bytes, s.newFlows, s.drops);
        for (const b of s.backends) {
          const backend = svc.backends.get(b.address);
          if (!backend) continue;
          add(backend, b.packets, b.bytes, b.newFlows, 0);
          if (b.healthy !== null && (batchHealth?.get(backend) ?? seenHealth?.get(backend)) !== b.healthy) {
            if (!batchHealth) health.set(p.nodeId, (batchHealth = new Map()));
            batchHealth.set(backend, b.healthy);
            transitions.push({
              organizationId: p.organizationId,
              nodeId: p.nodeId,
              backendId: backend.seriesKey,
              healthy: b.healthy,
              at,
            });
          }
        }
      }
      for (const v of p.report.vips) {
        let series = names.vips.get(v.vip);
        if (!series) names.vips.set(v.vip, (series = this.seriesOf(p.organizationId, 'vip_return', v.vip)));
        add(series, v.packets, v.bytes, 0, 0);
      }
    }

    // Per organisation, the newest second every agent connected here has its counters stored through, this batch
    // included: the second before the one its newest report ends in (the next report covers the rest of that one).
    const storedThrough = new Map([...this.reporting].map(([nodeId, r]) => [nodeId, r.storedThrough]));
    for (const p of [...accepted, ...repeats])
      if (storedThrough.has(p.nodeId))
        storedThrough.set(p.nodeId, Math.max(storedThrough.get(p.nodeId)!, Math.min(p.report.at, Date.now())));
    const bound = Math.floor((Date.now() - WATERMARK_BOUND_MS) / 1000) * 1000;
    const watermarks = new Map<string, number>();
    for (const [nodeId, at] of storedThrough) {
      const organizationId = this.reporting.get(nodeId)!.organizationId;
      const complete = Math.max(Math.floor(at / 1000) * 1000 - 1000, bound);
      watermarks.set(organizationId, Math.min(watermarks.get(organizationId) ?? complete, complete));
    }
    const gone = [...this.watermarkOrgs].filter((o) => !watermarks.has(o));

    const raw = seconds.rows();
    const { rows: closed, closedAt, end: closedBefore } = this.closedNodeBuckets(nodeDetail);
    let rollupRows = 0;
    let cursorRows = 0;
    // On the pg pool, not through Prisma: its query compiler costs a few microseconds per parameter, and the
    // per-node arrays below hold series × nodes values (most of the panel's CPU at thousands of agents,
    // docs/benchmarks.md). Timestamps travel as ms since the epoch (utcTimestamp).
    const ms = (rows: { at: number }[]) => rows.map((r) => r.at);
    await poolTransaction(this.db.pool, async (client) => {
      // A flush that cannot finish is failed and resent rather than left holding its locks.
      await client.query(`SET LOCAL statement_timeout = '30s'`);
      if (raw.length) {
        await poolQuery(
          client,
          sql`INSERT INTO "CounterSample" ("organizationId", "replica", "batch", "kind", "seriesKey", "at", "packets", "bytes", "newFlows", "drops")
              SELECT o, ${this.replica}, ${batchId}::bigint, k::"SeriesKind", s, to_timestamp(a / 1000) AT TIME ZONE 'UTC', p, y, f, d
              FROM unnest(${raw.map((r) => r.series.organizationId)}::text[], ${raw.map((r) => r.series.kind)}::text[], ${raw.map((r) => r.series.seriesKey)}::text[],
                          ${ms(raw)}::float8[], ${raw.map((r) => r.packets)}::bigint[], ${raw.map((r) => r.bytes)}::bigint[],
                          ${raw.map((r) => r.newFlows)}::bigint[], ${raw.map((r) => r.drops)}::bigint[])
                   AS t(o, k, s, a, p, y, f, d)`,
        );
      }
      for (const resolution of ['minute', 'hour'] as const) {
        const rows = rebucket(raw, resolution === 'minute' ? 60_000 : 3_600_000);
        if (rows.length === 0) continue;
        rollupRows += rows.length;
        await poolQuery(
          client,
          sql`INSERT INTO "CounterRollup" ("organizationId", "resolution", "bucket", "replica", "kind", "seriesKey", "packets", "bytes", "newFlows", "drops")
              SELECT o, ${resolution}::"RollupResolution", to_timestamp(b / 1000) AT TIME ZONE 'UTC', ${this.replica}, k::"SeriesKind", s, p, y, f, d
              FROM unnest(${rows.map((r) => r.series.organizationId)}::text[], ${ms(rows)}::float8[],
                          ${rows.map((r) => r.series.kind)}::text[], ${rows.map((r) => r.series.seriesKey)}::text[], ${rows.map((r) => r.packets)}::bigint[],
                          ${rows.map((r) => r.bytes)}::bigint[], ${rows.map((r) => r.newFlows)}::bigint[], ${rows.map((r) => r.drops)}::bigint[])
                   AS t(o, b, k, s, p, y, f, d)
              ON CONFLICT ("organizationId", "resolution", "bucket", "replica", "kind", "seriesKey") DO UPDATE SET
                "packets" = "CounterRollup"."packets" + EXCLUDED."packets",
                "bytes" = "CounterRollup"."bytes" + EXCLUDED."bytes",
                "newFlows" = "CounterRollup"."newFlows" + EXCLUDED."newFlows",
                "drops" = "CounterRollup"."drops" + EXCLUDED."drops"`,
        );
      }
      if (transitions.length) {
        await poolQuery(
          client,
          sql`INSERT INTO "HealthTransition" ("organizationId", "nodeId", "backendId", "healthy", "at")
              SELECT o, n, b, h, to_timestamp(a / 1000) AT TIME ZONE 'UTC'
              FROM unnest(${transitions.map((t) => t.organizationId)}::text[], ${transitions.map((t) => t.nodeId)}::text[],
                          ${transitions.map((t) => t.backendId)}::text[], ${transitions.map((t) => t.healthy)}::boolean[], ${ms(transitions)}::float8[])
                   AS t(o, n, b, h, a)`,
        );
      }
      if (watermarks.size) {
        const rows = [...watermarks].sort(([a], [b]) => (a < b ? -1 : 1));
        await poolQuery(
          client,
          sql`INSERT INTO "CounterWatermark" ("organizationId", "replica", "batch", "completeThrough", "writtenAt")
              SELECT o, ${this.replica}, ${batchId}::bigint, to_timestamp(t / 1000) AT TIME ZONE 'UTC', now()
              FROM unnest(${rows.map(([o]) => o)}::text[], ${rows.map(([, t]) => t)}::float8[]) AS w(o, t)
              ON CONFLICT ("organizationId", "replica") DO UPDATE SET "batch" = EXCLUDED."batch", "completeThrough" = EXCLUDED."completeThrough", "writtenAt" = now()`,
        );
      }
      if (gone.length)
        await poolQuery(
          client,
          sql`DELETE FROM "CounterWatermark" WHERE "replica" = ${this.replica} AND "organizationId" = ANY(${gone}::text[])`,
        );
      if (cursors.size) {
        // One row per organisation with every stored node's cursor (rows grow with replicas, not agents).
        const result = await poolQuery(
          client,
          sql`INSERT INTO "CounterCursorBatch" ("organizationId", "replica", "batch", "at", "nodeIds", "boots", "seqs")
              SELECT o, ${this.replica}::text, ${batchId}::bigint, ${utcTimestamp(batchId)}, array_agg(n ORDER BY n), array_agg(b ORDER BY n), array_agg(s ORDER BY n)
              FROM unnest(${[...cursors.values()].map((c) => c.organizationId)}::text[], ${[...cursors.keys()]}::text[],
                          ${[...cursors.values()].map((c) => c.boot)}::text[], ${[...cursors.values()].map((c) => c.seq)}::int[]) AS t(o, n, b, s)
              GROUP BY o`,
        );
        cursorRows = result.rowCount ?? 0;
      }
    });
    this.lastBatch = batchId;
    // Stored: the cursors are remembered, and those read from the database, for agents still on the connection they
    // had when the batch started. Nothing of a failed batch is remembered: its resend is looked up again.
    for (const [nodeId, c] of [...matched, ...cursors])
      if ((this.connections.get(nodeId) ?? 0) === generation.get(nodeId)) this.cursors.set(nodeId, { boot: c.boot, seq: c.seq });
    // Not for an agent that disconnected meanwhile: it holds nothing back any more.
    for (const [nodeId, at] of storedThrough) {
      const r = this.reporting.get(nodeId);
      if (r) r.storedThrough = Math.max(r.storedThrough, at);
    }
    this.watermarkOrgs = new Set(watermarks.keys());
    this.remember(batchId, raw);
    // Stored: the batch's per-node detail joins the open buckets, the written ones leave them.
    for (const at of closedAt) this.nodeBuckets.byAt.delete(at);
    for (const at of nodeDetail.byAt.keys()) if (at < closedBefore) nodeDetail.byAt.delete(at); // written with this batch
    this.nodeBuckets.absorb(nodeDetail);
    for (const [nodeId, seen] of health) {
      const known = this.health.get(nodeId);
      if (known) for (const [backend, healthy] of seen) known.set(backend, healthy);
      else this.health.set(nodeId, seen);
    }
    this.written.CounterSample += raw.length;
    this.written.CounterRollup += rollupRows;
    this.written.CounterCursorBatch += cursorRows;
    for (const r of raw) {
      const total = this.totals.get(r.series.kind) ?? { bytes: 0, packets: 0 };
      total.bytes += r.bytes;
      total.packets += r.packets;
      this.totals.set(r.series.kind, total);
    }
    this.reports.stored += accepted.length;
    this.reports.repeated += repeats.length;
    for (const p of accepted) p.done(true);
    for (const p of repeats) p.done(true);
    // Only organisations with rows: the live stream reads the batch from memory here, from the database elsewhere.
    const orgs = new Set(raw.map((r) => r.series.organizationId));
    for (const organizationId of orgs)
      await this.bus.publish({ kind: 'counters', organizationId, at: Date.now(), replica: this.replica, batch: batchId });
    this.unwrittenNodeRows = this.unwrittenNodeRows.length ? this.unwrittenNodeRows.concat(closed) : closed;
    void this.writeNodeRows();
  }

  /**
   * Writes the ended per-node buckets in a transaction of their own, beside the flushes: at thousands of agents
   * one holds series × nodes values, and inside the flush it held every report and the live chart back for
   * seconds every 10 s. They are derived from reports already stored (as the open buckets in memory are), so
   * a failed write keeps them for the next; `flush()` resolves once they are written.
   */
  private writeNodeRows(): Promise<void> {
    if (this.nodeWriting || this.unwrittenNodeRows.length === 0) return this.nodeWriting ?? Promise.resolve();
    const rows = this.unwrittenNodeRows;
    this.unwrittenNodeRows = [];
    const batch = (this.lastNodeBatch = Math.max(this.lastNodeBatch + 1, Date.now()));
    this.nodeWriting = this.insertNodeRows(rows, batch)
      .then(
        (written) => void (this.written.CounterNodeSample += written),
        (err: Error) => {
          // Kept for the next write, up to a bound: a database that refuses them for long loses node detail, not memory.
          this.unwrittenNodeRows = rows.concat(this.unwrittenNodeRows).slice(-MAX_UNWRITTEN_NODE_ROWS);
          this.options.log(`counters: ${rows.length} per-node rows were not written (${err.message}); retried with the next`);
        },
      )
      .finally(() => {
        this.nodeWriting = undefined;
      });
    return this.nodeWriting;
  }

  private async insertNodeRows(closed: Row[], batch: number): Promise<number> {
    // One row per series and bucket, every node's part in arrays (rows grow with series, not agents). Another
    // replica's part of a bucket (a node that moved), or a late part written by a later write of this one, is
    // another row: readers add them all. All five aggregates read the group's rows in the same order.
    const result = await poolQuery(
      this.db.pool,
      sql`INSERT INTO "CounterNodeSample" ("organizationId", "replica", "batch", "kind", "seriesKey", "at", "nodeIds", "packets", "bytes", "newFlows", "drops")
          SELECT o, ${this.replica}::text, ${batch}::bigint, k::"SeriesKind", s, to_timestamp(a / 1000) AT TIME ZONE 'UTC',
                 array_agg(n), array_agg(p), array_agg(y), array_agg(f), array_agg(d)
          FROM unnest(${closed.map((r) => r.series.organizationId)}::text[], ${closed.map((r) => r.series.kind)}::text[], ${closed.map((r) => r.series.seriesKey)}::text[],
                      ${closed.map((r) => r.at)}::float8[], ${closed.map((r) => r.nodeId)}::text[], ${numbers(closed.map((r) => r.packets))}::bigint[],
                      ${numbers(closed.map((r) => r.bytes))}::bigint[], ${numbers(closed.map((r) => r.newFlows))}::bigint[], ${numbers(closed.map((r) => r.drops))}::bigint[])
               AS t(o, k, s, a, n, p, y, f, d)
          GROUP BY o, k, s, a`,
    );
    return result.rowCount ?? 0;
  }

  private remember(batch: number, raw: Row[]) {
    const rows = new Map<string, SampleValues[]>();
    for (const r of raw) {
      const list = rows.get(r.series.organizationId) ?? [];
      list.push({
        kind: r.series.kind,
        seriesKey: r.series.seriesKey,
        at: new Date(r.at),
        packets: r.packets,
        bytes: r.bytes,
        newFlows: r.newFlows,
        drops: r.drops,
      });
      rows.set(r.series.organizationId, list);
    }
    this.recent.push({ batch, rows });
    if (this.recent.length > RECENT_BATCHES) this.coveredFrom = this.recent.shift()!.batch;
    for (const l of this.storedListeners) l();
  }

  /**
   * Per-node 10 s buckets that have ended (with a grace for late reports), this
   * batch's part included: written in the batch's transaction.
   */
  private closedNodeBuckets(batch: Sums): { rows: Row[]; closedAt: number[]; end: number } {
    const end = Date.now() - NODE_STEP_MS - NODE_GRACE_MS;
    // Only the ended buckets are visited: the open ones hold every node's series and stay as they are.
    const closedAt = [...this.nodeBuckets.byAt.keys()].filter((at) => at < end);
    const late = batch.rows(end);
    // The open buckets' rows as they are, unless this batch adds to them (then copies: a failed write leaves them untouched).
    if (late.length === 0) return { rows: this.nodeBuckets.rows(end), closedAt, end };
    const closed = new Sums();
    for (const r of this.nodeBuckets.rows(end)) closed.addRow(r);
    for (const r of late) closed.addRow(r);
    return { rows: closed.rows(), closedAt, end };
  }

  private async maintain() {
    await maintainPartitions(this.db, this.options.retention).catch((err: Error) =>
      this.options.log(`retention: creating or expiring partitions failed: ${err.message}`),
    );
    // Rows of replicas that stopped (readers ignore them after WATERMARK_BOUND_MS already).
    await this.db.prisma.$executeRaw`DELETE FROM "CounterWatermark" WHERE "writtenAt" < now() - interval '1 hour'`.catch((err: Error) =>
      this.options.log(`counters: removing old watermarks failed: ${err.message}`),
    );
  }

  async close() {
    clearInterval(this.timer);
    clearInterval(this.cleanup);
    await this.flush();
    // The flush an overrun started, if any, and the per-node rows.
    while (this.flushing || this.nodeWriting) await (this.flushing ?? this.nodeWriting);
    // Its agents move to other replicas: this one's watermark must not hold the chart back meanwhile.
    this.reporting.clear();
    await this.db.prisma.$executeRaw`DELETE FROM "CounterWatermark" WHERE "replica" = ${this.replica}`.catch((err: Error) =>
      this.options.log(`counters: removing this replica's watermarks failed: ${err.message}`),
    );
  }
}
