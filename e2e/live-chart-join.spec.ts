// The live chart joins its history (stats.series) and the live stream
// (live.counters) in Chromium so that a flush stored while the history loads, or
// between the history and the subscription, is counted once: not twice, not
// missing. Counter rows are stored as another panel replica's flush (rows, then
// its bus signal), which the live stream reads from the database.
import { randomBytes } from 'node:crypto';
import type { Page } from '@playwright/test';
import { organizationId, signUp, uniqueEmail, withTestDatabase } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/**
 * Another replica's flush: inbound and return-path bytes for the second `secondsAgo`
 * back, stored and then signalled on the bus as a replica signals its flush (after
 * its commit: a page may read the rows before the signal reaches it). Returns the signal.
 */
async function storeFlush(orgId: string, replica: string, secondsAgo: number, inbound: number): Promise<() => Promise<void>> {
  const batch = Date.now();
  const at = new Date(Math.floor(batch / 1000) * 1000 - secondsAgo * 1000);
  await withTestDatabase((sql) =>
    sql.query(
      `INSERT INTO "CounterSample" ("organizationId", replica, batch, kind, "seriesKey", at, packets, bytes, "newFlows")
       VALUES ($1, $2, $3, 'service', 'e2e-service', $4, 1, $5, 3), ($1, $2, $3, 'vip_return', '10.99.0.1', $4, 1, $6, 0)`,
      [orgId, replica, batch, at, inbound, inbound * 60],
    ),
  );
  return () =>
    withTestDatabase(async (sql) => {
      await sql.query(`SELECT pg_notify('tula_events', $1)`, [
        JSON.stringify({ kind: 'counters', organizationId: orgId, at: batch, replica, batch }),
      ]);
    });
}

/** A flush stored and signalled at once. */
const storeAndSignal = async (...args: Parameters<typeof storeFlush>) => (await storeFlush(...args))();

/** The live chart's inbound total (bytes over the drawn seconds), once it shows the chart. */
const drawnInbound = (page: Page) => page.getByTestId('traffic-chart').getAttribute('data-inbound').then(Number);

/** Holds the page's requests to `url` until `release()`; `requested` resolves when the first one is made. */
async function holdRequests(page: Page, url: RegExp): Promise<{ requested: Promise<void>; release: () => void }> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let requestMade!: () => void;
  const requested = new Promise<void>((resolve) => (requestMade = resolve));
  await page.route(url, async (route) => {
    requestMade();
    await held;
    await route.continue();
  });
  return { requested, release };
}

test('a flush stored while the live chart loads its history, and signalled after, is counted once, not twice', async ({ page }) => {
  await signUp(page, uniqueEmail('charts-join'));
  const orgId = await organizationId(page);
  const replica = randomBytes(4).toString('hex');
  await storeAndSignal(orgId, replica, 30, 1000);
  const history = await holdRequests(page, /\/api\/trpc\/[^?]*stats\.series/);
  await page.goto('/app');
  await history.requested;
  // Whatever the page starts beside the history (a subscription) has started by now.
  await page.waitForTimeout(2000);
  const signal = await storeFlush(orgId, replica, 20, 7000);
  history.release();
  await expect.poll(() => drawnInbound(page)).toBe(8000);
  // The history summed the flush; its signal reaches the stream now.
  await signal();
  await page.waitForTimeout(6000);
  expect(await drawnInbound(page)).toBe(8000);
  // A later flush still comes through the stream, once.
  await storeAndSignal(orgId, replica, 10, 500);
  await expect.poll(() => drawnInbound(page)).toBe(8500);
  await page.waitForTimeout(2000);
  expect(await drawnInbound(page)).toBe(8500);
});

test("a flush stored between the live chart's history and its subscription is counted, not missing", async ({ page }) => {
  await signUp(page, uniqueEmail('charts-gap'));
  const orgId = await organizationId(page);
  const replica = randomBytes(4).toString('hex');
  await storeAndSignal(orgId, replica, 30, 1000);
  const stream = await holdRequests(page, /\/api\/trpc\/live\.counters/);
  const history = page.waitForResponse(/\/api\/trpc\/[^?]*stats\.series/);
  await page.goto('/app');
  await history;
  await stream.requested;
  await storeAndSignal(orgId, replica, 20, 7000);
  stream.release();
  await expect.poll(() => drawnInbound(page)).toBe(8000);
  await page.waitForTimeout(6000);
  expect(await drawnInbound(page)).toBe(8000);
});
