// A staged rollout in Chromium against the real panel and PostgreSQL: the review
// step starts it, the service page shows it live (which balancer runs which
// revision, the hold counting down), and pause, resume and abort act on it.
import type { ChildProcess } from 'node:child_process';
import { expect, test } from './support/no-uncaught.ts';
import { signUp, uniqueEmail } from './support/app.ts';
import { enrollmentToken, ENROLLED_WITHIN, startAgent } from './support/agent.ts';

const port = Number(process.env.E2E_PORT ?? 3111);

test.describe('staged rollout', () => {
  let agent: ChildProcess | undefined;
  test.afterAll(() => {
    agent?.kill('SIGTERM');
  });

  test('an edit applied staged shows live on the service page, and pauses, resumes and aborts', async ({ page }) => {
    test.setTimeout(180_000);
    await signUp(page, uniqueEmail('staged'));
    await page.getByRole('button', { name: 'Add a node' }).click();
    const token = await enrollmentToken(page);
    // A real agent in dry-run: it renders and acknowledges without touching this host's kernel.
    agent = startAgent({ server: `http://127.0.0.1:${port}`, token, name: 'rs-lb1' });
    await expect(page.getByTestId('onboarding-nodes')).toContainText('rs-lb1', ENROLLED_WITHIN);

    await page.goto('/app/services/new');
    await page.getByLabel('Name').fill('shop');
    await page.getByLabel('Virtual IP (VIP)').fill('10.78.0.100');
    await page.getByLabel('Port or range').fill('80');
    await page.getByLabel('rs-lb1').check();
    await page.getByLabel('Backend 1 address').fill('10.78.0.1');
    await page.getByRole('button', { name: 'Create service' }).click();
    await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);

    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('button', { name: 'Add a backend' }).click();
    await page.getByLabel('Backend 2 address').fill('10.78.0.2');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('checkbox', { name: /Staged rollout/ }).check();
    await expect(page.getByLabel('Canary balancer')).toHaveValue(/.+/);
    await page.getByLabel('Hold (seconds)').fill('600');
    await page.getByRole('button', { name: 'Start staged rollout' }).click();

    const card = page.getByTestId('staged-rollout');
    await expect(card.getByRole('table', { name: 'Balancers of the rollout' })).toContainText('rs-lb1');
    await expect(card.getByRole('row', { name: /rs-lb1/ })).toContainText('canary');
    // The agent acknowledges, the hold begins and counts down.
    await expect(card).toContainText(/Batch 1 of 1 holds for \d+ s more/, { timeout: 30_000 });
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect(card).toContainText('paused');
    await page.getByRole('button', { name: 'Resume' }).click();
    await expect(card).toContainText('rolling out');
    // Abort asks in the panel's own dialog, not window.confirm() (which Playwright would dismiss: nothing aborted).
    await page.getByRole('button', { name: 'Abort' }).click();
    await page.getByRole('alertdialog', { name: 'Abort the rollout?' }).getByRole('button', { name: 'Abort the rollout' }).click();
    await expect(card).toContainText('aborted');
    await expect(page.getByTestId('rollout-reason')).toContainText('aborted by');
    await expect(page.getByRole('button', { name: 'Abort' })).toHaveCount(0);
  });
});
