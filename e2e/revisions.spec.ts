// Change safety in Chromium against the real panel and PostgreSQL: an edit goes
// through the review step (fields, nodes, flows that move), the History tab
// lists each revision's changes, and a rollback makes a new revision.
import type { ChildProcess } from 'node:child_process';
import { expect, test } from './support/no-uncaught.ts';
import { lookupChange, serviceLookupTable } from '@tula/nft';
import { SCREENSHOTS, signUp, uniqueEmail } from './support/app.ts';
import { enrollmentToken, ENROLLED_WITHIN, startAgent } from './support/agent.ts';

const port = Number(process.env.E2E_PORT ?? 3111);
const backends = ['10.77.0.1', '10.77.0.2', '10.77.0.3', '10.77.0.4'];

test.describe('revisions, review and rollback', () => {
  let agent: ChildProcess | undefined;
  test.afterAll(() => {
    agent?.kill('SIGTERM');
  });

  test('an edit is reviewed before it applies; History shows it and rolls it back', async ({ page }) => {
    test.setTimeout(180_000);
    await signUp(page, uniqueEmail('revisions'));
    // A balancer: a real agent (dry-run: it renders and reports, without touching this host's kernel).
    await page.getByRole('button', { name: 'Add a node' }).click();
    const token = await enrollmentToken(page);
    agent = startAgent({ server: `http://127.0.0.1:${port}`, token, name: 'rv-lb1' });
    await expect(page.getByTestId('onboarding-nodes')).toContainText('rv-lb1', ENROLLED_WITHIN);

    await page.goto('/app/services/new');
    await page.getByLabel('Name').fill('shop');
    await page.getByLabel('Virtual IP (VIP)').fill('10.77.0.100');
    await page.getByLabel('Port or range').fill('80');
    await page.getByLabel('rv-lb1').check();
    for (const [i, address] of backends.entries()) {
      if (i > 0) await page.getByRole('button', { name: 'Add a backend' }).click();
      await page.getByLabel(`Backend ${i + 1} address`).fill(address);
    }
    await page.getByRole('button', { name: 'Create service' }).click();
    await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
    const serviceUrl = page.url();

    // The edit: one of four backends removed. Saving shows the review, and nothing is applied yet.
    await page.getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('button', { name: 'Remove backend 2' }).click();
    await page.getByRole('button', { name: 'Save changes' }).click();
    const review = page.getByTestId('service-review');
    await expect(review.getByRole('list', { name: 'Fields that change' })).toHaveText('backend 10.77.0.2 removed');
    await expect(review.getByRole('list', { name: 'Nodes that receive a new document' })).toContainText('rv-lb1');
    // The figure is the Maglev tables' own: the removed backend's share of the 401 entries.
    const expected = lookupChange(
      serviceLookupTable(backends.map((key) => ({ key, weight: 1, usable: true }))),
      serviceLookupTable(backends.filter((b) => b !== '10.77.0.2').map((key) => ({ key, weight: 1, usable: true }))),
    );
    const share = `${((100 * expected.establishedMoving) / expected.entries).toFixed(1)}%`;
    expect(Number.parseFloat(share)).toBeGreaterThan(24);
    expect(Number.parseFloat(share)).toBeLessThan(26);
    await expect(page.getByTestId('flows-moved')).toContainText(`${share} of existing flows move to another backend`);
    await page.screenshot({ path: `${SCREENSHOTS}/service-review.png`, fullPage: true });
    // Usable on a phone: nothing wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SCREENSHOTS}/service-review-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('button', { name: 'Back to editing' }).click();
    await expect(page.getByLabel('Backend 3 address')).toHaveValue('10.77.0.4');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('button', { name: 'Apply changes' }).click();
    await expect(page).toHaveURL(serviceUrl);
    await expect(page.getByRole('table', { name: 'Backends' })).not.toContainText('10.77.0.2');

    // History: newest first, each revision with its changes.
    await page.getByRole('navigation', { name: 'Service' }).getByRole('link', { name: 'History' }).click();
    await expect(page.getByTestId('revision-2')).toContainText('backend 10.77.0.2 removed');
    await expect(page.getByTestId('revision-2')).toContainText('current');
    await expect(page.getByTestId('revision-1')).toContainText('service created');

    await page.getByTestId('revision-1').getByRole('button', { name: 'Roll back to this revision' }).click();
    await page
      .getByRole('alertdialog', { name: 'Roll back shop to revision 1?' })
      .getByRole('button', { name: 'Roll back to revision 1' })
      .click();
    await expect(page.getByTestId('revision-3')).toContainText('restores revision 1');
    await expect(page.getByTestId('revision-3')).toContainText('backend 10.77.0.2 added');
    await page.screenshot({ path: `${SCREENSHOTS}/service-history.png`, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${SCREENSHOTS}/service-history-phone.png`, fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.getByRole('navigation', { name: 'Service' }).getByRole('link', { name: 'Overview' }).click();
    await expect(page.getByRole('table', { name: 'Backends' })).toContainText('10.77.0.2');

    // The audit log links the rollback to its revision, filtered to this service.
    await page.goto('/app/audit');
    await page.getByLabel('Target').selectOption({ label: 'shop' });
    const rows = page.getByRole('table', { name: 'Audit events' }).locator('tbody tr');
    await expect(rows).toHaveCount(3);
    await expect(rows.first()).toContainText('rolled back service shop');
    await rows.first().getByRole('link', { name: 'revision 3' }).click();
    await expect(page.getByTestId('revision-3')).toBeVisible();
  });
});
