// Attempt limits kept in PostgreSQL, so every panel replica counts against the
// same number. Each hit is one atomic upsert on a fixed window that starts at
// the key's first hit (better-auth's limiter for sign-in and sign-up keeps its
// own rows in "RateLimit", on the same database, so those hold across replicas too).
import type { Database } from '@tula/db';

export class SharedLimiter {
  private hitsSincePrune = 0;

  constructor(
    private readonly db: Database,
    /** Prefix of this limiter's keys ("enroll", "invite"...). */
    private readonly name: string,
    /** Hits allowed per key and window. */
    readonly max: number,
    readonly windowSeconds: number,
  ) {}

  /** Counts one hit for `key`: false once the key has used up its window. */
  async take(key: string): Promise<boolean> {
    const { rows } = await this.db.pool.query<{ hits: number }>(
      `INSERT INTO "LimitWindow" (key, "windowStart", hits) VALUES ($1, now(), 1)
       ON CONFLICT (key) DO UPDATE SET
         hits = CASE WHEN "LimitWindow"."windowStart" <= now() - make_interval(secs => $2) THEN 1 ELSE "LimitWindow".hits + 1 END,
         "windowStart" = CASE WHEN "LimitWindow"."windowStart" <= now() - make_interval(secs => $2) THEN now() ELSE "LimitWindow"."windowStart" END
       RETURNING hits`,
      [`${this.name}:${key}`, this.windowSeconds],
    );
    if (++this.hitsSincePrune >= 500) {
      this.hitsSincePrune = 0;
      void this.prune().catch(() => undefined);
    }
    return rows[0]!.hits <= this.max;
  }

  /** Forgets this limiter's windows that have ended. */
  async prune(): Promise<void> {
    await this.db.pool.query(`DELETE FROM "LimitWindow" WHERE key LIKE $1 AND "windowStart" <= now() - make_interval(secs => $2)`, [
      `${this.name}:%`,
      this.windowSeconds,
    ]);
  }
}
