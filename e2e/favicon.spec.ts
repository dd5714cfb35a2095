// The panel has a favicon: the page links an SVG icon, and it is served as one.
import { expect, test } from './support/no-uncaught.ts';

test('pages link an SVG favicon that the panel serves', async ({ page }) => {
  await page.goto('/login');
  const href = await page.locator('link[rel="icon"]').first().getAttribute('href');
  expect(href).toMatch(/icon/);
  const icon = await page.request.get(href!);
  expect(icon.status()).toBe(200);
  expect(icon.headers()['content-type']).toContain('image/svg+xml');
  expect(await icon.text()).toContain('<svg');
});

test('/favicon.ico, which browsers and crawlers ask for unprompted, leads to the icon', async ({ page }) => {
  const icon = await page.request.get('/favicon.ico');
  expect(icon.status()).toBe(200);
  expect(icon.headers()['content-type']).toContain('image/svg+xml');
  expect(await icon.text()).toContain('<svg');
});
