// What the pages say once a condition has passed, in Chromium at 390 px in the
// dark theme: a backend that went down and came back leaves no "firing" alert
// (the panel's own alert ticker raises them), and a balancer gone offline no
// longer makes its service degraded with the warnings of its last report, which
// are shown as such. The balancer's reports are written into the node's row as
// the gateway writes them (connected, lastSeenAt, statusAt, appliedHash,
// failingBackends, warnings).
import type { Page } from '@playwright/test';
import pg from 'pg';
import { nodeWithService, SCREENSHOTS, signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

async function sql(text: string, values: unknown[]) {
  const client = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

/**
 * The balancer's last status report, as the gateway records it; `ageS`: how long ago, and then it went offline;
 * `seenS`: how long ago its agent was last heard from (a ping after that report), `ageS` unless given.
 */
const report = (nodeId: string, r: { failing: string[]; warnings: string[]; ageS?: number; seenS?: number }) =>
  sql(
    `UPDATE "Node" SET connected = $2, "lastSeenAt" = now() - make_interval(secs => $6), "statusAt" = now() - make_interval(secs => $3),
       "appliedHash" = "desiredHash", "failingBackends" = $4::jsonb, warnings = $5 WHERE id = $1`,
    [
      nodeId,
      !r.ageS,
      r.ageS ?? 0,
      JSON.stringify(r.failing.map((address) => ({ service: 'st-web', address, since: Date.now(), error: 'connection refused' }))),
      r.warnings,
      r.seenS ?? r.ageS ?? 0,
    ],
  );

const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

/** Signed up at 390 px in the dark theme, with a node and the service st-web on it. */
async function setUp(page: Page, node: string, vip: string) {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await signUp(page, uniqueEmail('stale'));
  return nodeWithService(page, { node, name: 'st-web', vip, port: '80', backend: '10.84.0.11' });
}

test('a backend that went down and came back leaves no firing alert (390 px, dark)', async ({ page }) => {
  const { nodeId } = await setUp(page, 'st-lb1', '10.84.0.100');
  // Online and healthy, then the backend fails its check and comes back: two transitions, four alerts.
  await report(nodeId, { failing: [], warnings: [] });
  await page.goto('/app/alerts');
  const rows = page.getByRole('list', { name: 'Notifications' }).getByTestId('alert');
  await report(nodeId, { failing: ['10.84.0.11'], warnings: [] });
  await expect(rows.filter({ hasText: 'Backend 10.84.0.11 of st-web is down' })).toBeVisible({ timeout: 30_000 });
  await report(nodeId, { failing: [], warnings: [] });
  await expect(rows.filter({ hasText: 'Backend 10.84.0.11 of st-web recovered' })).toBeVisible({ timeout: 30_000 });
  await expect(rows.filter({ hasText: 'Service st-web is up again' })).toBeVisible({ timeout: 30_000 });
  // Nothing is wrong now: the "is down" rows say when they resolved, none says "firing".
  const down = rows.filter({ hasText: /is down/ });
  await expect(down).toHaveCount(2);
  await expect(down.getByText('firing', { exact: true })).toHaveCount(0);
  await expect(down.first()).toContainText(/resolved \d/);
  await expect(page.getByTestId('firing-now')).toHaveText('nothing firing now');
  expect(await fitsWidth(page)).toBe(true);
  await page.screenshot({ path: `${SCREENSHOTS}/alerts-resolved-phone-dark.png`, fullPage: true });
});

test("an offline balancer's warnings are stale: its service is health unknown, not degraded (390 px, dark)", async ({ page }) => {
  const { nodeId, serviceHref } = await setUp(page, 'st-lb2', '10.84.0.101');
  const warning = 'service st-web: no MAC known for backend 10.84.0.11 on eth0';
  // Online with a warning about the service: degraded.
  await report(nodeId, { failing: [], warnings: [warning] });
  await page.goto(serviceHref);
  const health = page.getByTestId('service-health');
  await expect(health).toHaveAttribute('data-state', 'degraded');
  await expect(page.getByTestId('warnings')).toContainText(warning);

  // Its agent went away 5 minutes ago; the warning is what it said then.
  await report(nodeId, { failing: [], warnings: [warning], ageS: 300 });
  await expect(health).toHaveAttribute('data-state', 'unknown', { timeout: 10_000 });
  await expect(health).toContainText('health unknown: no balancer reporting');
  await expect(page.getByTestId('warnings')).toHaveCount(0);
  await expect(page.getByTestId('stale-warnings')).toContainText(
    `st-lb2: ${warning} (node offline; last status report 5 min ago, last seen 5 min ago)`,
  );
  expect(await fitsWidth(page)).toBe(true);
  await page.screenshot({ path: `${SCREENSHOTS}/stale-warnings-service-phone-dark.png`, fullPage: true });
  await page.goto('/app');
  await expect(page.getByTestId('overview-service-st-web').getByTestId('service-health')).toHaveAttribute('data-state', 'unknown');
  await expect(page.getByTestId('degraded-services')).toHaveText('0');
  await expect(page.getByTestId('unknown-services')).toHaveText('1');
  await page.goto(`/app/fleet/${nodeId}`);
  await expect(
    page.getByText('Warnings from the agent, node offline; last status report 5 min ago, last seen 5 min ago (1)'),
  ).toBeVisible();
  await expect(page.getByTestId('stale-warnings')).toContainText(warning);
  expect(await fitsWidth(page)).toBe(true);
  await page.screenshot({ path: `${SCREENSHOTS}/stale-warnings-node-phone-dark.png`, fullPage: true });
});

test("an offline balancer's announcement is not shown as current on its service and node pages (390 px, dark)", async ({ page }) => {
  const { nodeId, serviceHref } = await setUp(page, 'st-lb3', '10.84.0.102');
  // Its agent's last report: BGP up, the VIP announced; then the host died 5 minutes ago.
  const said = {
    vips: [{ vip: '10.84.0.102', via: 'bgp', fit: true }],
    bgp: { running: true, peers: [{ address: '10.84.0.1', established: true, state: 'Established', info: '' }] },
    errors: [],
  };
  await sql(`UPDATE "Node" SET "announceState" = $2::jsonb WHERE id = $1`, [nodeId, JSON.stringify(said)]);
  await report(nodeId, { failing: [], warnings: [], ageS: 300 });
  await page.goto(serviceHref);
  const row = page.getByTestId('balancer-st-lb3');
  await expect(row).toContainText('unknown: node offline');
  await expect(row).toContainText(
    'last status report 5 min ago, last seen 5 min ago; that report said: announcing (BGP), 1 of 1 peers established',
  );
  expect(await fitsWidth(page)).toBe(true);
  await page.goto(`/app/fleet/${nodeId}`);
  await expect(page.getByTestId('announce-stale')).toContainText('Node offline; last status report 5 min ago, last seen 5 min ago.');
  expect(await fitsWidth(page)).toBe(true);
});

test('an offline node names both its times: its last status report and when it was last seen (390 px, dark)', async ({ page }) => {
  const { nodeId, serviceHref } = await setUp(page, 'st-lb4', '10.84.0.103');
  const warning = 'service st-web: no MAC known for backend 10.84.0.11 on eth0';
  // Its last status report (with the warning) was 4 minutes ago; it still pinged until 20 s ago, then went offline.
  await report(nodeId, { failing: [], warnings: [warning], ageS: 240, seenS: 20 });
  const times = /last status report 4 min ago, last seen \d+ s ago/;
  await page.goto('/app/fleet');
  await expect(page.getByRole('row').filter({ hasText: 'st-lb4' })).toContainText(times);
  expect(await fitsWidth(page)).toBe(true);
  await page.goto(`/app/fleet/${nodeId}`);
  await expect(page.getByText(times).first()).toBeVisible();
  await expect(page.getByRole('heading', { name: times })).toBeVisible();
  await page.goto(serviceHref);
  await expect(page.getByTestId('stale-warnings')).toContainText(times);
  expect(await fitsWidth(page)).toBe(true);
});

test("an offline balancer's rollout is not counted as applied: the badge says it is offline, amber (390 px, dark)", async ({ page }) => {
  const { nodeId, serviceHref } = await setUp(page, 'st-lb5', '10.84.0.104');
  await report(nodeId, { failing: [], warnings: [] });
  await page.goto('/app/services');
  const badge = page.getByRole('row').filter({ hasText: 'st-web' }).getByTestId('rollout-badge');
  await expect(badge).toHaveText('1/1 nodes applied');
  // Its agent went away 16 minutes ago, having applied: that is what its last report said, not what it runs now.
  await report(nodeId, { failing: [], warnings: [], ageS: 960 });
  await page.reload();
  await expect(badge).toHaveText('0/1 nodes applied, 1 offline');
  expect(await badge.getAttribute('data-tone')).toBe('amber');
  expect(await fitsWidth(page)).toBe(true);
  await page.goto(serviceHref);
  await expect(page.getByTestId('rollout')).toContainText(
    '1 node offline 0 of 1 nodes run the current version; 1 offline, so what it runs is known only from its last status report.',
  );
  expect(await page.getByTestId('rollout').getByTestId('rollout-badge').getAttribute('data-tone')).toBe('amber');
  expect(await fitsWidth(page)).toBe(true);
});

test('a service with no health check says so instead of "all healthy" (390 px, dark)', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await signUp(page, uniqueEmail('unchecked'));
  const { nodeId, serviceHref } = await nodeWithService(page, {
    node: 'st-lb3',
    name: 'st-web',
    vip: '10.84.0.102',
    port: '80',
    backend: '10.84.0.11',
    noHealthCheck: true,
  });
  await report(nodeId, { failing: [], warnings: [] });
  await page.goto(serviceHref);
  const health = page.getByTestId('service-health');
  await expect(health).toHaveAttribute('data-state', 'healthy');
  await expect(health).toContainText('not checked: no health check');
  await expect(health).not.toContainText('all healthy');
  await page.goto('/app');
  await expect(page.getByTestId('overview-service-st-web').getByTestId('service-health')).toContainText('not checked: no health check');
  expect(await fitsWidth(page)).toBe(true);
});
