// The full journey in Debian's Chromium against the real panel and PostgreSQL:
// sign up, onboard, enroll real agents (inside a network-namespace lab, applying
// real nftables rules), create a service, watch the rollout reach "applied" and
// the DSR traffic appear on the chart.
import type { ChildProcess } from 'node:child_process';
import type { Page } from '@playwright/test';
import { expect, test } from './support/no-uncaught.ts';
import { createLab, LAB, type Lab, type LabHost } from '@tula/netlab';
import { SCREENSHOTS, signUp, uniqueEmail } from './support/app.ts';
import { enrollmentToken, ENROLLED_WITHIN, startAgent } from './support/agent.ts';

const port = Number(process.env.E2E_PORT ?? 3111);
const needsRoot = process.getuid?.() !== 0 ? 'needs root to build the network-namespace lab (CI runs as root)' : undefined;

test.describe('the journey of a new user', () => {
  test.skip(Boolean(needsRoot), needsRoot ?? '');
  let lab: Lab;
  const agents: ChildProcess[] = [];

  test.beforeAll(async () => {
    lab = await createLab({ prefix: 'e2e', managementNet: 21 });
    // Management links now, before the browser opens: a link appearing while a page loads
    // makes Chromium abort the load (ERR_NETWORK_CHANGED).
    for (const host of [...lab.balancers, ...lab.backends]) await lab.connectToHost(host);
  });
  test.afterAll(async () => {
    for (const a of agents) a.kill('SIGTERM');
    await lab?.destroy();
  });

  async function enrollFromCommand(page: Page, host: LabHost) {
    const token = await enrollmentToken(page);
    // The command names the panel's public URL; inside the lab the panel is reached over the management link.
    agents.push(startAgent({ server: `http://${await lab.connectToHost(host)}:${port}`, token, name: host.name, netns: host.ns }));
  }

  test('sign up, enroll, create a service, see it applied and its traffic', async ({ page }) => {
    test.setTimeout(240_000);
    await signUp(page, uniqueEmail('journey'));
    await expect(page.getByTestId('trial-days')).toHaveText('14 days left');
    await page.screenshot({ path: `${SCREENSHOTS}/onboarding.png`, fullPage: true });

    // Step 1-2: the balancer, enrolled with the command the panel shows, appears live.
    await page.getByRole('button', { name: 'Add a node' }).click();
    await enrollFromCommand(page, lab.balancers[0]!);
    await expect(page.getByTestId('onboarding-nodes')).toContainText('lb1', ENROLLED_WITHIN);
    await expect(page.getByTestId('onboarding-nodes').getByText('online')).toBeVisible();

    // The backends are enrolled the same way, from the Fleet page.
    for (const b of lab.backends) {
      await page.goto('/app/fleet');
      await page.getByRole('button', { name: 'Add a node' }).click();
      await enrollFromCommand(page, b);
      await expect(page.getByRole('link', { name: b.name })).toBeVisible(ENROLLED_WITHIN);
    }
    await expect(page.getByRole('table', { name: 'Nodes' }).getByText('online', { exact: true })).toHaveCount(4);
    await expect(page.getByTestId('fleet-counts')).toContainText('4 of 4 nodes online');
    await page.screenshot({ path: `${SCREENSHOTS}/fleet.png`, fullPage: true });

    // Step 3: the service, through the form.
    await page.goto('/app/services/new');
    await page.getByLabel('Name').fill('web');
    await page.getByLabel('Virtual IP (VIP)').fill(LAB.l2Vip.v4);
    await page.getByLabel('Port or range').fill('80');
    await page.getByLabel('lb1').check();
    for (const [i, b] of lab.backends.entries()) {
      if (i > 0) await page.getByRole('button', { name: 'Add a backend' }).click();
      await page.getByLabel(`Backend ${i + 1} address`).fill(b.v4);
    }
    await page.getByLabel('Type').selectOption('http');
    await page.screenshot({ path: `${SCREENSHOTS}/service-form.png`, fullPage: true });
    await page.getByRole('button', { name: 'Create service' }).click();
    await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
    await expect(page.getByTestId('rollout')).toContainText('applied', { timeout: 60_000 });
    await expect(page.getByTestId('rollout')).toContainText('4 of 4 nodes');

    // Step 4: traffic. Small requests, large responses, straight back from the backends.
    for (let i = 0; i < 8; i++) {
      const r = await lab.exec(lab.client.ns, [
        'curl',
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        `http://${LAB.l2Vip.v4}/bytes/${2 * 1024 * 1024}`,
      ]);
      expect(r.stdout).toBe('200');
    }
    // Balancer and backends report on their own clocks: the ratio settles once both have.
    const ratio = async () => Number(/sent ([\d.]+)×/.exec((await page.getByTestId('dsr-ratio').textContent()) ?? '')?.[1] ?? 0);
    await expect.poll(ratio, { timeout: 30_000 }).toBeGreaterThan(20);
    expect(Number(await page.getByTestId('traffic-chart').getAttribute('data-points'))).toBeGreaterThan(0);
    await page.screenshot({ path: `${SCREENSHOTS}/service.png`, fullPage: true });

    await page.goto('/app');
    await expect(page.getByTestId('dsr-ratio')).toContainText('The backends sent');
    await page.screenshot({ path: `${SCREENSHOTS}/overview.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${SCREENSHOTS}/overview-phone.png`, fullPage: true });

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto('/app/audit');
    const audit = page.getByRole('table', { name: 'Audit events' });
    await expect(audit).toContainText('created service');
    await expect(audit).toContainText('enrolled node');
    await page.screenshot({ path: `${SCREENSHOTS}/audit.png`, fullPage: true });
  });
});
