// The alert loop of a panel process: evaluate rules, then send what is due.
// Every replica runs it; evaluate.ts and deliver.ts say why that is safe.
import type { SecretBox } from '@tula/control';
import type { Database } from '@tula/db';
import type { Mailer } from '../mailer.ts';
import { startTicker } from '../ticker.ts';
import { DEFAULT_DELIVERY, sendDueDeliveries, type DeliveryOptions } from './deliver.ts';
import { evaluateAlerts } from './evaluate.ts';

/**
 * Every 5 s: 5 s is small beside what a condition takes to show (fall × check interval, the offline threshold).
 * A tick reads what the rules watch for every organisation at once (evaluate.ts); at one tick a second and
 * eleven queries per organisation, 45 organisations kept an idle panel a third of a core busy.
 */
const ALERT_TICK_MS = 5000;

export function startAlertTicker(
  db: Database,
  box: SecretBox,
  mailer: Mailer,
  publicUrl: string,
  options: { delivery?: Partial<DeliveryOptions>; log?: (m: string) => void } = {},
): () => Promise<void> {
  const log = options.log ?? ((m) => console.error(`alerts: ${m}`));
  const delivery = { ...DEFAULT_DELIVERY, ...options.delivery };
  return startTicker(ALERT_TICK_MS, () =>
    evaluateAlerts(db, publicUrl)
      .catch((err: Error) => log(`evaluation failed: ${err.message}`))
      .then(() => sendDueDeliveries(db, box, mailer, delivery))
      .then(
        () => undefined,
        (err: Error) => log(`delivery failed: ${err.message}`),
      ),
  );
}
