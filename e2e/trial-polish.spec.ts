// What a new-user trial found drawn wrong: "Last error: none" in red on the node
// page, the Alerts page's checkbox drawn as a full-width text field, and the
// Team page's form labels at different heights when one field has a hint.
import type { Locator } from '@playwright/test';
import { nodeWithService, signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

const top = async (l: Locator) => (await l.boundingBox())!.y;

test.beforeEach(async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await signUp(page, uniqueEmail('polish'));
});

test('a node with no error shows "none", not in the error colour', async ({ page }) => {
  const { nodeId } = await nodeWithService(page, { node: 'tp-lb1', name: 'polish', vip: '10.79.0.100', port: '80', backend: '10.79.0.1' });
  await page.goto(`/app/fleet/${nodeId}`);
  const lastError = page.locator('dt', { hasText: /^Last error$/ }).locator('xpath=following-sibling::dd[1]');
  await expect(lastError).toHaveText('none');
  await expect(lastError).not.toHaveClass(/text-red/);
});

test("the Alerts page's filter is a checkbox-sized box beside its label, not a bar across the card", async ({ page }) => {
  await page.goto('/app/alerts');
  const onlyOpen = page.getByLabel('Only those not yet acknowledged');
  await expect(onlyOpen).toBeVisible();
  expect((await onlyOpen.boundingBox())!.width).toBeLessThan(32);
});

test("the Team page's form labels line up at 1280 px whether or not a field has a hint", async ({ page }) => {
  await page.goto('/app/team');
  const label = (text: string) => page.locator('label', { hasText: new RegExp(`^${text}$`) });
  await expect(label('Email')).toBeVisible();
  await expect(label('Token name')).toBeVisible();
  expect(await top(label('Email'))).toBe(await top(label('Role')));
  expect(await top(label('Token name'))).toBe(await top(label('Token role')));
  expect(await top(label('Token name'))).toBe(await top(label('Expires')));
});
