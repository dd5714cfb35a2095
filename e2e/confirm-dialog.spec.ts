// Destructive actions ask in an accessible dialog, never window.confirm(): the
// dialog is labelled, takes the focus and keeps it, Escape cancels (nothing
// happens), and only its own button goes ahead. Checked on a node's Revoke and
// Delete and a service's Delete, in Chromium against the real panel.
import type { Locator, Page } from '@playwright/test';
import { nodeWithService, signUp, uniqueEmail } from './support/app.ts';
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
  // A service on a node: Delete asks first.
  const { nodeId } = await nodeWithService(page, { node: 'cd-lb1', name: 'doomed', vip: '10.78.0.100', port: '80', backend: '10.78.0.1' });
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
