// README command 1's dashboard on the local lab, in Debian's Chromium: the
// second web server of playwright.config.ts runs the panel as `npm start` does
// (embedded database, TULA_LAB=1). The demo login opens on the live DSR
// picture, both series move, the lab controls take a backend out, and both
// balancers show the routed VIP's traffic.
import { expect, test } from './support/no-uncaught.ts';
import { labPort } from '../playwright.config.ts';
import { labBackendRow, SCREENSHOTS, signInToLab, startLabServer, stopLabServer } from './support/app.ts';

const needsRoot = process.getuid?.() !== 0 ? 'needs root to build the local lab (CI runs as root)' : undefined;
const labUrl = `http://127.0.0.1:${labPort}`;

test.describe('the local lab', () => {
  test.skip(Boolean(needsRoot), needsRoot ?? '');
  test.use({ baseURL: labUrl });

  test('the demo login opens on the live DSR picture, both series move, and a stopped backend shows', async ({ page, request }) => {
    // The panel answers before the lab is built; its health says when the lab is ready.
    await expect
      .poll(async () => ((await (await request.get(`${labUrl}/api/health`)).json()) as { lab?: { state: string; detail: string } }).lab, {
        timeout: 150_000,
        intervals: [2000],
      })
      .toMatchObject({ state: 'ready' });

    await signInToLab(page);

    const chart = page.getByTestId('traffic-chart');
    const totals = async () => ({
      inbound: Number(await chart.getAttribute('data-inbound')),
      returnPath: Number(await chart.getAttribute('data-return-path')),
    });
    // The window's sums level off once it is full (five minutes of a lab that may be older): "still flowing" is
    // read from the newest second each series counted, which must come after the given moment.
    const expectFlowingAfter = async (momentS: number) => {
      for (const series of ['inbound', 'return-path']) {
        await expect
          .poll(async () => Number(await chart.getAttribute(`data-newest-${series}-second`)), {
            timeout: 30_000,
            message: `${series} counted after the moment`,
          })
          .toBeGreaterThan(momentS + 1);
      }
    };
    await expect.poll(async () => (await totals()).returnPath, { timeout: 30_000 }).toBeGreaterThan(0);
    // Both series move: the balancer and the backends count traffic in seconds after this one.
    await expectFlowingAfter(Date.now() / 1000);
    const now = await totals();
    expect(now.returnPath / now.inbound).toBeGreaterThan(20);
    await expect(page.getByTestId('dsr-ratio')).toContainText('The backends sent');

    // Lab-only controls. Stop b2's server: the lab shows it stopped, and the
    // balancer's health checks mark it down on the service's health timeline.
    const controls = page.getByTestId('lab-controls');
    await expect(controls.getByText('lab only')).toBeVisible();
    const row = (name: string) => labBackendRow(page, name);
    await stopLabServer(page, 'b2');
    await page.getByRole('link', { name: 'Services' }).first().click();
    await expect(page).toHaveURL(/\/app\/services$/);
    await page.getByRole('link', { name: 'lab-web' }).click();
    await expect(page).toHaveURL(/\/app\/services\/[^/]+$/);
    const health = page.getByLabel('Backend health over the last hour');
    // Its bar ends red now (earlier browser tests in this lab may have stopped it before, within the hour).
    const bar = health.getByText('10.99.0.12', { exact: true }).locator('..');
    await expect(bar.locator('[data-state]').last()).toHaveAttribute('data-state', 'down', { timeout: 30_000 });
    await page.screenshot({ path: `${SCREENSHOTS}/lab-backend-down.png`, fullPage: true });
    // The lab organisation's default rules raise an alert for it, in the notification list.
    await page.getByRole('link', { name: 'Alerts' }).first().click();
    const notifications = page.getByRole('list', { name: 'Notifications' });
    await expect(notifications.getByText('Backend 10.99.0.12 of lab-web is down').first()).toBeVisible({ timeout: 30_000 });
    await page.screenshot({ path: `${SCREENSHOTS}/lab-alert.png`, fullPage: true });
    await page.goto('/app');
    await startLabServer(page, 'b2');
    // Its recovery is the newest alert, named on the lab card.
    await expect(controls.getByTestId('lab-alerts')).toContainText('Backend 10.99.0.12 of lab-web recovered', { timeout: 30_000 });

    // Drain b3: no new flows go to it; the button turns it active again.
    await row('b3').getByRole('button', { name: 'Drain' }).click();
    await expect(row('b3').getByText('draining')).toBeVisible();
    await row('b3').getByRole('button', { name: 'Activate' }).click();
    await expect(row('b3').getByText('active')).toBeVisible();

    // Switch lab-web to L2 (MAC rewrite): the rules change and traffic keeps flowing; then back to L3 (VXLAN).
    await controls.getByRole('button', { name: 'Switch to L2' }).click();
    await expect(controls.getByText('L2 (MAC rewrite)')).toBeVisible();
    await expectFlowingAfter(Date.now() / 1000);
    await controls.getByRole('button', { name: 'Switch to L3' }).click();
    await expect(controls.getByText('L3 (VXLAN tunnel)')).toBeVisible();
    await expect(page.getByText('5/5 nodes applied')).toHaveCount(2);

    // Two balancers share the routed VIP: the router sends each flows, and each one's link shows packets.
    for (const lb of ['lb1', 'lb2']) {
      const balancer = controls.getByTestId(`lab-balancer-${lb}`);
      await expect(balancer.getByText('router sends it flows')).toBeVisible({ timeout: 30_000 });
      await expect
        .poll(async () => Number(await controls.getByTestId(`lab-balancer-${lb}-rate`).getAttribute('data-rate')))
        .toBeGreaterThan(0);
    }
    // For the README: by now the live chart holds half a minute of lab traffic.
    await page.screenshot({ path: `${SCREENSHOTS}/lab.png`, fullPage: true });

    // A staged change from the lab card: the service page shows the rollout on the canary.
    await controls.getByRole('button', { name: 'Make a staged change' }).click();
    await expect(page).toHaveURL(/\/app\/services\/[^/]+$/);
    await expect(page.getByTestId('staged-rollout')).toContainText('canary', { timeout: 30_000 });
  });
});
