// Tells every panel process that nodes' desired state changed. A signal only:
// receivers re-read the database. PostgreSQL LISTEN/NOTIFY across replicas; an
// in-process emitter for the embedded database (one process).
import { EventEmitter } from 'node:events';
import type pg from 'pg';

export type BusEvent =
  /** Desired state of these nodes changed, or they were revoked: re-read and push. */
  | { kind: 'nodes'; nodeIds: string[] }
  /** New counter samples for this organisation were stored, by this replica's flush (batch id). */
  | { kind: 'counters'; organizationId: string; at: number; replica?: string; batch?: number }
  /** Node status (connected, applied version, error) changed in this organisation. */
  | { kind: 'fleet'; organizationId: string };

export interface Bus {
  publish(event: BusEvent): Promise<void>;
  subscribe(listener: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'tula_events';
// NOTIFY payloads must stay under 8000 bytes; large node lists are split.
const MAX_IDS_PER_NOTIFY = 150;

export class LocalBus implements Bus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  async publish(event: BusEvent) {
    this.emitter.emit('event', event);
  }
  subscribe(listener: (event: BusEvent) => void) {
    this.emitter.on('event', listener);
    return () => void this.emitter.off('event', listener);
  }
  async close() {
    this.emitter.removeAllListeners();
  }
}

export class PostgresBus implements Bus {
  private readonly local = new LocalBus();
  private client: pg.PoolClient | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly log: (m: string) => void,
  ) {}

  static async start(pool: pg.Pool, log: (m: string) => void = () => undefined): Promise<PostgresBus> {
    const bus = new PostgresBus(pool, log);
    await bus.listen();
    return bus;
  }

  /** A dedicated connection holds the LISTEN; if it drops, it is re-established. */
  private async listen(): Promise<void> {
    const client = await this.pool.connect();
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      try {
        void this.local.publish(JSON.parse(msg.payload) as BusEvent);
      } catch {
        this.log('bus: ignoring an unreadable notification');
      }
    });
    client.on('error', (err) => {
      this.log(`bus: listener connection lost (${err.message}); reconnecting`);
      client.release(true);
      this.client = undefined;
      this.scheduleReconnect();
    });
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }

  private scheduleReconnect() {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.listen().catch((err: Error) => {
        this.log(`bus: cannot listen yet (${err.message})`);
        this.scheduleReconnect();
      });
    }, 1000);
  }

  async publish(event: BusEvent): Promise<void> {
    const events =
      event.kind === 'nodes' && event.nodeIds.length > MAX_IDS_PER_NOTIFY
        ? Array.from({ length: Math.ceil(event.nodeIds.length / MAX_IDS_PER_NOTIFY) }, (_, i) => ({
            kind: 'nodes' as const,
            nodeIds: event.nodeIds.slice(i * MAX_IDS_PER_NOTIFY, (i + 1) * MAX_IDS_PER_NOTIFY),
          }))
        : [event];
    for (const e of events) await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(e)]);
  }

  subscribe(listener: (event: BusEvent) => void) {
    return this.local.subscribe(listener);
  }

  async close() {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.client) {
      await this.client.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
      this.client.release();
    }
    await this.local.close();
  }
}
