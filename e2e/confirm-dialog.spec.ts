// Destructive actions ask in an accessible dialog, never window.confirm(): the
// dialog is labelled, takes the focus and keeps it, Escape cancels (nothing
// happens), and only its own button goes ahead. Checked on a node's Revoke and
// Delete and a service's Delete, in Chromium against the real panel.
import { randomBytes } from 'node:crypto';
import type { Locator, Page } from '@playwright/test';
import pg from 'pg';
import { signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/** Opens the dialog, checks it is labelled and keeps the focus, then cancels it with Escape. */
async function escapeCancels(page: Page, trigger: Locator, title: RegExp): Promise<void> {
  await trigger.click();
  const dialog = page.getByRole('alertdialog', { name: title });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  // Tab cycles within the dialog: the focus never reaches the page behind it.
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  }
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(trigger).toBeFocused();
}

test('destructive actions ask in a labelled dialog that traps the focus and cancels on Escape', async ({ page }) => {
  await page.addInitScript(() => {
    window.confirm = () => {
      throw new Error('window.confirm() was called');
    };
  });
  await signUp(page, uniqueEmail('confirm'));
  const summary = await page.request.get('/api/trpc/org.summary', { headers: { origin: new URL(page.url()).origin } });
  const orgId = ((await summary.json()) as { result: { data: { json: { id: string } } } }).result.data.json.id;
  const nodeId = `cd${randomBytes(6).toString('hex')}`;
  const sql = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await sql.connect();
  try {
    await sql.query(`INSERT INTO "Node" (id, "organizationId", name, role, "credentialHash") VALUES ($1, $2, 'cd-lb1', 'both', $3)`, [nodeId, orgId, randomBytes(32).toString('hex')]);
  } finally {
    await sql.end();
  }

  // A service on that node: Delete asks first.
  await page.goto('/app/services/new');
  await page.getByLabel('Name').fill('doomed');
  await page.getByLabel('Virtual IP (VIP)').fill('10.78.0.100');
  await page.getByLabel('Port or range').fill('80');
  await page.getByLabel('cd-lb1').check();
  await page.getByLabel('Backend 1 address').fill('10.78.0.1');
  await page.getByRole('button', { name: 'Create service' }).click();
  await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
  const del = page.getByRole('button', { name: 'Delete', exact: true });
  await escapeCancels(page, del, /Delete doomed\?/);
  await expect(page.getByRole('heading', { name: 'doomed', level: 1 })).toBeVisible();
  await del.click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete doomed' }).click();
  await expect(page).toHaveURL(/\/app\/services$/);
  await expect(page.getByText('doomed')).toHaveCount(0);

  // Then the node: Revoke, then Delete, each ask.
  await page.goto(`/app/fleet/${nodeId}`);
  const revoke = page.getByRole('button', { name: 'Revoke', exact: true });
  await escapeCancels(page, revoke, /Revoke cd-lb1\?/);
  await expect(page.getByRole('button', { name: 'Delete this node' })).toHaveCount(0);
  await revoke.click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke cd-lb1' }).click();
  const remove = page.getByRole('button', { name: 'Delete this node' });
  await escapeCancels(page, remove, /Delete cd-lb1\?/);
  await remove.click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete cd-lb1' }).click();
  await expect(page).toHaveURL(/\/app\/fleet$/);
});
