// Issue 16 in Chromium against the real panel and PostgreSQL, with a real agent
// (dry-run: it renders, acknowledges and reports its announcements without
// touching this host's kernel or starting routing daemons): the node page's
// announcement settings refuse bad values naming the field, keep the BGP
// password write-only, and drain/undrain show live on the node and service pages.
import type { ChildProcess } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { signUp, uniqueEmail } from './support/app.ts';
import { enrollmentToken, ENROLLED_WITHIN, startAgent } from './support/agent.ts';

const port = Number(process.env.E2E_PORT ?? 3111);

test.describe('balancer announcements', () => {
  let agent: ChildProcess | undefined;
  test.afterAll(() => {
    agent?.kill('SIGTERM');
  });

  test('settings are validated by field, the password never comes back, and a drain shows live', async ({ page }) => {
    test.setTimeout(180_000);
    await signUp(page, uniqueEmail('ha'));
    await page.getByRole('button', { name: 'Add a node' }).click();
    const token = await enrollmentToken(page);
    agent = startAgent({ server: `http://127.0.0.1:${port}`, token, name: 'ha-lb1' });
    await expect(page.getByTestId('onboarding-nodes')).toContainText('ha-lb1', ENROLLED_WITHIN);

    await page.goto('/app/services/new');
    await page.getByLabel('Name').fill('shop');
    await page.getByLabel('Virtual IP (VIP)').fill('10.79.0.100');
    await page.getByLabel('Port or range').fill('80');
    await page.getByLabel('ha-lb1').check();
    await page.getByLabel('Backend 1 address').fill('10.79.0.1');
    await page.getByRole('button', { name: 'Create service' }).click();
    await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
    const serviceUrl = page.url();
    const balancers = page.getByRole('table', { name: 'Balancers serving this service' });
    await expect(balancers.getByRole('row', { name: /ha-lb1/ })).toContainText('answers ARP for the VIP: the only L2 balancer');

    await balancers.getByRole('link', { name: 'ha-lb1' }).click();
    const form = page.getByRole('form', { name: 'Announcement settings' });
    // Bad values: each refused with its field named, nothing saved.
    await form.getByLabel(/Own L2\/NAT VIPs with VRRP/).check();
    await form.getByLabel('VRRP interface').fill('e0');
    await form.getByLabel('Priority', { exact: true }).fill('255');
    await form.getByLabel(/Announce L3 VIPs over BGP/).check();
    await form.getByLabel('Local ASN').fill('0');
    await form.getByLabel('Router id', { exact: true }).fill('10.79.0.2');
    await form.getByLabel('Peer 1 address').fill('10.79.0.254');
    await form.getByLabel('Peer 1 ASN').fill('65000');
    await form.getByLabel('Peer 1 password').fill('md5-secret-xyz');
    await form.getByRole('button', { name: 'Save announcement settings' }).click();
    await expect(form.getByLabel('Local ASN')).toHaveAttribute('aria-invalid', 'true');
    await expect(form).toContainText('must be an AS number from 1 to 4294967294');
    await expect(form.getByLabel('Priority', { exact: true })).toHaveAttribute('aria-invalid', 'true');
    await expect(form).toContainText('must be from 1 to 254 (255 is reserved for the address owner)');

    await form.getByLabel('Local ASN').fill('65001');
    await form.getByLabel('Priority', { exact: true }).fill('150');
    await form.getByRole('button', { name: 'Save announcement settings' }).click();
    await expect(form.getByRole('status')).toContainText('Saved');

    // After a reload: the settings are there, the password only as "stored".
    await page.reload();
    await expect(form.getByLabel('Local ASN')).toHaveValue('65001');
    await expect(form).toContainText('A password is stored; leave empty to keep it.');
    await expect(form.getByLabel('Peer 1 password')).toHaveValue('');
    expect(await page.content()).not.toContain('md5-secret-xyz');

    // The agent reports its announcements: the service's VIP is VRRP's (an L2 service).
    const state = page.getByRole('list', { name: 'Announced VIPs' });
    await expect(state).toContainText('10.79.0.100', { timeout: 30_000 });

    await page.getByRole('button', { name: 'Drain', exact: true }).click();
    await page.getByRole('alertdialog', { name: 'Drain ha-lb1?' }).getByRole('button', { name: 'Drain ha-lb1' }).click();
    // Withdrawn at once; drained once the agent reports no traffic (it has none).
    await expect(state).toContainText('withdrawn: draining', { timeout: 30_000 });
    await expect(page.getByText('drained', { exact: true })).toBeVisible({ timeout: 30_000 });

    await page.goto(serviceUrl);
    await expect(balancers.getByRole('row', { name: /ha-lb1/ })).toContainText('drained');
    await expect(balancers.getByRole('row', { name: /ha-lb1/ })).toContainText('withdrawn: draining');

    await balancers.getByRole('link', { name: 'ha-lb1' }).click();
    await page.getByRole('button', { name: 'Undrain (announce again)' }).click();
    await expect(page.getByText('active', { exact: true })).toBeVisible();
    await expect(state).not.toContainText('withdrawn: draining', { timeout: 30_000 });

    await page.goto('/app/audit');
    const audit = page.getByRole('table', { name: 'Audit events' });
    await expect(audit).toContainText('undrained balancer ha-lb1');
    await expect(audit).toContainText(/\bdrained balancer ha-lb1/); // not the 'undrained' row
    await expect(audit).toContainText('changed the announcement settings of node ha-lb1');
  });
});
