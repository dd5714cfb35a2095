// The panel shows what is wrong now, on real agents in the local lab (the
// second web server of playwright.config.ts): stop a backend's server and the
// service reads "degraded" and the backend "failing: connection refused" on
// the overview, the services list and the service page, on a laptop and on a
// phone; start it again and all is healthy. Every page visited, charts
// included, must run without an uncaught error.
import { labPort } from '../playwright.config.ts';
import { LAPTOP_AND_PHONE, SCREENSHOTS, signInToLab, startLabServer, stopLabServer } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

const needsRoot = process.getuid?.() !== 0 ? 'needs root to build the local lab (CI runs as root)' : undefined;
const labUrl = `http://127.0.0.1:${labPort}`;
/** How long the lab's health checks and the panel's refresh may take together (checks every 2 s, fall 3). */
const SHOWS_WITHIN = { timeout: 30_000 };

test.describe('health now, in the local lab', () => {
  test.skip(Boolean(needsRoot), needsRoot ?? '');
  test.use({ baseURL: labUrl });

  test('a stopped backend server shows as degraded and failing everywhere, on a laptop and on a phone', async ({ page, request }) => {
    await page.setViewportSize(LAPTOP_AND_PHONE[0]);
    await expect
      .poll(async () => ((await (await request.get(`${labUrl}/api/health`)).json()) as { lab?: { state: string } }).lab?.state, {
        timeout: 150_000,
        intervals: [2000],
      })
      .toBe('ready');
    await signInToLab(page);

    const overviewRow = page.getByTestId('overview-service-lab-web');
    await expect(overviewRow.getByTestId('service-health')).toHaveAttribute('data-state', 'healthy', SHOWS_WITHIN);
    await expect(overviewRow).toContainText('all healthy');

    await stopLabServer(page, 'b2');
    try {
      // One stop, read on both screens: stopping and restarting a server is what takes the time.
      for (const viewport of LAPTOP_AND_PHONE) {
        await page.setViewportSize(viewport);
        await page.goto('/app');
        // The overview: the service and the fleet roll-up.
        await expect(overviewRow, viewport.name).toContainText('degraded', SHOWS_WITHIN);
        await expect(overviewRow, viewport.name).toContainText('1 of 3 backends failing');
        await expect(page.getByTestId('degraded-services'), viewport.name).not.toHaveText('0');

        // The services list.
        await page.goto('/app/services');
        const listRow = page.getByRole('row').filter({ hasText: 'lab-web' });
        await expect(listRow, viewport.name).toContainText('degraded', SHOWS_WITHIN);

        // The service page: the backend, per balancer, with the reason.
        await listRow.getByRole('link', { name: 'lab-web' }).click();
        await expect(page).toHaveURL(/\/app\/services\/[^/]+$/);
        await expect(page.getByTestId('service-health'), viewport.name).toContainText('degraded');
        const b2 = page.getByTestId('backend-10.99.0.12');
        await expect(b2, viewport.name).toContainText('failing: connection refused', SHOWS_WITHIN);
        await expect(b2, viewport.name).toContainText('since');
        await expect(page.getByTestId('backend-10.99.0.11'), viewport.name).toContainText('healthy');
        await page.screenshot({ path: `${SCREENSHOTS}/health-now-${viewport.name}.png`, fullPage: true });
      }
    } finally {
      await page.goto('/app');
      await startLabServer(page, 'b2');
    }
    await expect(overviewRow).toContainText('all healthy', SHOWS_WITHIN);

    // Every page of the panel once on each screen, leaving each chart page by a link as a person does.
    for (const viewport of LAPTOP_AND_PHONE) {
      await page.setViewportSize(viewport);
      await page.goto('/app');
      for (const link of ['Services', 'Fleet', 'Audit log', 'Team', 'Overview']) {
        const nav = page.getByRole('link', { name: link }).first();
        if (!(await nav.isVisible())) await page.getByRole('button', { name: /menu/i }).click();
        await nav.click();
      }
      await page.goto('/app/services');
      await page.getByRole('link', { name: 'lab-web' }).click();
      await expect(page.getByTestId('traffic-chart')).toBeVisible();
      await page.getByRole('link', { name: 'Fleet' }).first().click();
      await page.getByRole('table').getByRole('link').first().click();
      await expect(page.getByText('Desired state (v1 document)')).toBeVisible();
    }
  });

  test("a backend whose MAC the balancer cannot learn shows the agent's warning on the service, its node and the overview", async ({
    page,
  }) => {
    await signInToLab(page);
    // lab-web runs in L3 (VXLAN) on two balancers; MACs matter in L2 (MAC rewrite): the lab card switches it.
    const controls = page.getByTestId('lab-controls');
    await page.goto('/app/services');
    await page.getByRole('link', { name: 'lab-web' }).click();
    await expect(page).toHaveURL(/\/app\/services\/[^/]+$/);
    const servicePage = page.url();
    await page.goto('/app');
    await controls.getByRole('button', { name: 'Switch to L2' }).click();
    // From here on, whatever fails, the lab is put back as it starts for the browser tests after this one.
    try {
      await expect(controls.getByText('L2 (MAC rewrite)')).toBeVisible();
      await page.goto(servicePage);
      await page.getByRole('link', { name: 'Edit' }).click();
      // On the lab's L2 segment, but no host answers ARP for it.
      await page.getByRole('button', { name: 'Add a backend' }).click();
      await page.getByLabel('Backend 4 address').fill('10.99.0.99');
      await page.getByRole('button', { name: 'Save changes' }).click();
      // An edit is reviewed before it applies (issue 18's review step).
      await page.getByRole('button', { name: 'Apply changes' }).click();
      await expect(page).toHaveURL(servicePage);
      const warning = 'no MAC known for backend 10.99.0.99';
      await expect(page.getByTestId('warnings')).toContainText(warning, SHOWS_WITHIN);
      await expect(page.getByTestId('backend-10.99.0.99')).toContainText('failing: no MAC known');
      // One warning from each balancer.
      await expect(page.getByTestId('rollout-badge')).toContainText('applied with 2 warnings');
      await page.getByRole('link', { name: 'Fleet' }).first().click();
      // Both balancers carry lab-web, and each warns.
      await expect(page.getByRole('row').filter({ hasText: warning })).toHaveCount(2);
      await page.getByRole('row').filter({ hasText: warning }).first().getByRole('link').click();
      await expect(page.getByTestId('warnings')).toContainText(warning);
      await page.getByRole('link', { name: 'Overview' }).first().click();
      await expect(page.getByTestId('fleet-counts')).toContainText('2 with warnings');
      await expect(page.getByTestId('overview-service-lab-web')).toContainText('2 warnings');
    } finally {
      await page.goto(servicePage);
      await page.getByRole('link', { name: 'Edit' }).click();
      // The added backend is there only if the edit above was applied.
      await expect(page.getByRole('button', { name: 'Add a backend' })).toBeVisible();
      const added = page.getByRole('button', { name: 'Remove backend 4' });
      if ((await added.count()) > 0) {
        await added.click();
        await page.getByRole('button', { name: 'Save changes' }).click();
        await page.getByRole('button', { name: 'Apply changes' }).click();
        await expect(page).toHaveURL(servicePage);
        await expect(page.getByTestId('warnings')).toHaveCount(0, SHOWS_WITHIN);
      }
      await page.goto('/app');
      await controls.getByRole('button', { name: 'Switch to L3' }).click();
      await expect(controls.getByText('L3 (VXLAN tunnel)')).toBeVisible();
    }
  });
});
