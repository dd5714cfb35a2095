// Alerts in Chromium against the real panel and PostgreSQL: add a webhook (its
// secret shown once), send a test to a real receiver that fails the first
// attempt, read the delivery log (500, then 200), shorten the "node offline"
// rule, stop a real agent and acknowledge the alert it raises.
import type { ChildProcess } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { startReceiver, type Receiver } from '../test/support/webhook-receiver.ts';
import { SCREENSHOTS, signUp, uniqueEmail } from './support/app.ts';
import { enrollmentToken, ENROLLED_WITHIN, startAgent } from './support/agent.ts';

const port = Number(process.env.E2E_PORT ?? 3111);

test.describe('alerts', () => {
  let agent: ChildProcess | undefined;
  let receiver: Receiver | undefined;
  test.afterAll(async () => {
    agent?.kill('SIGTERM');
    await receiver?.close();
  });

  test('a webhook is added, tested and logged; an offline node raises an alert that is acknowledged', async ({ page }) => {
    test.setTimeout(180_000);
    // Fails each delivery's first attempt, accepts the retry.
    receiver = await startReceiver((_r, attempt) => (attempt === 1 ? 500 : 200));
    await signUp(page, uniqueEmail('alerts'));
    await page.getByRole('link', { name: 'Alerts' }).first().click();
    await expect(page).toHaveURL(/\/app\/alerts$/);
    await expect(page.getByText('No alerts yet')).toBeVisible();

    await page.getByLabel('Webhook name').fill('on-call');
    await page.getByLabel('Webhook URL').fill(receiver.url);
    await page.getByLabel('Payload').selectOption('json');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secret = (await page.getByTestId('new-webhook-secret').textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    receiver.secret = secret;
    await expect(page.getByRole('table', { name: 'Webhooks' })).toContainText('on-call');

    await page.getByRole('button', { name: 'Send test to on-call' }).click();
    const log = page.getByTestId('delivery-log');
    await expect(log.getByTestId('delivery').first()).toContainText('delivered', { timeout: 30_000 });
    await expect(log.getByTestId('attempt')).toHaveText([/^HTTP 500 \(answered 500\).*retry in 0\.5 s$/, /^HTTP 200 after/]);
    expect(receiver.received.map((r) => [r.status, r.verified, r.body.type])).toEqual([
      [500, true, 'test'],
      [200, true, 'test'],
    ]);
    await page.screenshot({ path: `${SCREENSHOTS}/alerts-webhook.png`, fullPage: true });

    // "Node offline" after 10 s instead of 60. A value under 10 s is refused, and the row says it is not saved.
    const seconds = page.getByLabel('Node offline: seconds');
    const saved = page.getByRole('row').filter({ has: seconds }).getByRole('status');
    await seconds.fill('5');
    await seconds.press('Enter');
    await expect(saved).toHaveText('not saved: still 60 s');
    await expect(seconds).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByRole('alert').filter({ hasText: 'At least 10 seconds' })).toBeVisible();
    // Enter saves as leaving the field does; the row says when it is stored (reloading before that lost the edit).
    await seconds.fill('10');
    await seconds.press('Enter');
    await expect(saved).toHaveText('saved');
    await expect(seconds).not.toHaveAttribute('aria-invalid');
    await page.reload();
    await expect(page.getByLabel('Node offline: seconds')).toHaveValue('10');

    // A real agent (dry-run) comes online, then stops.
    await page.goto('/app/onboarding');
    await page.getByRole('button', { name: 'Add a node' }).click();
    const token = await enrollmentToken(page);
    agent = startAgent({ server: `http://127.0.0.1:${port}`, token, name: 'al-lb1' });
    await expect(page.getByTestId('onboarding-nodes')).toContainText('al-lb1', ENROLLED_WITHIN);
    // Online first (enrolled is not yet connected), then stopped.
    await page.goto('/app/fleet');
    const row = page.getByRole('row', { name: /al-lb1/ });
    await expect(async () => {
      await page.reload();
      await expect(row).toContainText('online', { timeout: 2000 });
    }).toPass({ timeout: 30_000 });
    agent.kill('SIGTERM');

    await page.goto('/app/alerts');
    const notifications = page.getByRole('list', { name: 'Notifications' });
    const alert = notifications.getByTestId('alert').filter({ hasText: 'Node al-lb1 is offline' });
    await expect(alert).toBeVisible({ timeout: 60_000 });
    await expect(page.getByText(/Notifications \(1 to acknowledge\)/)).toBeVisible();
    await alert.getByRole('button', { name: 'Acknowledge: Node al-lb1 is offline' }).click();
    await expect(alert).toContainText('acknowledged by');
    await expect(page.getByText(/Notifications \(0 to acknowledge\)/)).toBeVisible();
    // The webhook got it too, signed.
    await expect
      .poll(() => receiver!.received.some((r) => r.body.title === 'Node al-lb1 is offline' && r.verified && r.status === 200))
      .toBe(true);
    await page.screenshot({ path: `${SCREENSHOTS}/alerts.png`, fullPage: true });
  });
});
