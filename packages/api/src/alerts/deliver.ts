// Sends due deliveries (webhooks and mail) and retries failures with
// exponential backoff. State lives in PostgreSQL, so a restart or another
// replica carries on: a sender claims due rows by pushing their next attempt
// ahead (FOR UPDATE SKIP LOCKED, so two replicas never claim the same row),
// sends, then records the attempt and the next one. A sender that dies
// mid-send leaves its claim to expire and the row is sent again.
import { secretBox, webhookSignature, type SecretBox } from '@tula/control';
import type { Database } from '@tula/db';
import type { Mailer } from '../mailer.ts';
import { alertMail, webhookBody, type AlertPayload } from './payload.ts';

/** The key webhook signing secrets are sealed with (see secretBox). */
export const webhookSecretBox = (authSecret: string): SecretBox => secretBox(authSecret, 'webhook secrets');

export interface DeliveryOptions {
  /** The first retry's delay; each further one doubles it (capped at an hour). */
  retryBaseMs: number;
  /** Attempts in all before a delivery is marked failed. */
  maxAttempts: number;
  /** How long a claim holds before another sender may take the row. */
  claimMs?: number;
  timeoutMs?: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = { retryBaseMs: 30_000, maxAttempts: 8 };

/** Delay before the retry that follows attempt `attempt` (1-based). */
export function retryDelayMs(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** (attempt - 1), 3_600_000);
}

interface Claimed {
  id: string;
  organizationId: string;
  webhookId: string | null;
  email: string | null;
  payload: AlertPayload;
  attempts: number;
}

/** Sends every due delivery once; returns how many were attempted. */
export async function sendDueDeliveries(db: Database, box: SecretBox, mailer: Mailer, o: DeliveryOptions, limit = 20): Promise<number> {
  const claimMs = o.claimMs ?? 60_000;
  const claimed = await db.prisma.$queryRaw<Claimed[]>`
    UPDATE "AlertDelivery" AS d SET "attempts" = d."attempts" + 1, "nextAttemptAt" = now() + ${claimMs} * interval '1 millisecond'
    WHERE d.id IN (
      SELECT id FROM "AlertDelivery" WHERE status = 'pending' AND "nextAttemptAt" <= now()
      ORDER BY "nextAttemptAt" LIMIT ${limit} FOR UPDATE SKIP LOCKED)
    RETURNING d.id, d."organizationId", d."webhookId", d.email, d.payload, d.attempts`;
  await Promise.all(claimed.map((d) => attempt(db, box, mailer, o, d)));
  return claimed.length;
}

async function attempt(db: Database, box: SecretBox, mailer: Mailer, o: DeliveryOptions, d: Claimed) {
  const started = Date.now();
  let statusCode: number | null = null;
  let error: string | null = null;
  try {
    if (d.webhookId) {
      const hook = await db.prisma.webhook.findUnique({ where: { id: d.webhookId } });
      if (!hook) throw new Error('the webhook was deleted');
      const body = webhookBody(d.payload, hook.format);
      const timestamp = String(Math.floor(Date.now() / 1000));
      const res = await fetch(hook.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(o.timeoutMs ?? 10_000),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Tula-Alerts/1',
          'x-tula-delivery': d.id,
          'x-tula-timestamp': timestamp,
          'x-tula-signature': webhookSignature(box.open(hook.secretSealed), timestamp, body),
        },
        body,
      });
      statusCode = res.status;
      await res.body?.cancel();
      if (res.status < 200 || res.status > 299) error = `answered ${res.status}`;
    } else if (d.email) {
      await mailer.send({ to: d.email, ...alertMail(d.payload) });
    } else {
      throw new Error('a delivery with neither webhook nor address');
    }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    error = e.name === 'TimeoutError' ? 'timed out' : [e.message, e.cause?.code].filter(Boolean).join(': ');
  }
  const delivered = error === null;
  const last = !delivered && d.attempts >= o.maxAttempts;
  const retryAfterMs = delivered || last ? null : retryDelayMs(d.attempts, o.retryBaseMs);
  await db.prisma.$transaction([
    db.prisma.alertDeliveryAttempt.create({
      data: {
        organizationId: d.organizationId,
        deliveryId: d.id,
        attempt: d.attempts,
        statusCode,
        error,
        durationMs: Date.now() - started,
        retryAfterMs,
      },
    }),
    db.prisma.alertDelivery.update({
      where: { id: d.id },
      data: {
        status: delivered ? 'delivered' : last ? 'failed' : 'pending',
        nextAttemptAt: retryAfterMs === null ? null : new Date(Date.now() + retryAfterMs),
      },
    }),
  ]);
}
