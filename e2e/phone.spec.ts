// At 390 px nothing needs sideways scrolling, charts included, even when the
// window narrows after a chart was drawn; and no page throws an uncaught error.
import { signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

test('a window narrowed to a phone width fits the charts and the pages', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await signUp(page, uniqueEmail('phone'));
  await page.goto('/app');
  await expect(page.getByRole('img', { name: /Throughput over time/ })).toBeVisible();
  await page.setViewportSize({ width: 390, height: 844 });
  const pageWidth = () => page.evaluate(() => document.documentElement.scrollWidth);
  await expect.poll(pageWidth).toBeLessThanOrEqual(390);
  for (const path of ['/app/services', '/app/fleet', '/app/audit', '/app/team', '/app/services/new', '/app']) {
    await page.goto(path);
    await expect.poll(pageWidth, { message: path }).toBeLessThanOrEqual(390);
  }
});
