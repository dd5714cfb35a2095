// Backends count the return path per VIP, not per service: on the page of a
// service that shares its VIP, the chart says its return path line is the whole
// VIP's (the lab's lab-dns read "the backends sent 7553× what the balancers
// received", lab-web's downloads included), at 390 px in the dark theme.
import { nodeWithService, signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

test('a service sharing its VIP says its return path line is the whole VIP’s (390 px, dark)', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 390, height: 844 });
  await signUp(page, uniqueEmail('sharedvip'));
  const alone = await nodeWithService(page, { node: 'sv-lb0', name: 'sv-alone', vip: '10.85.0.99', port: '80', backend: '10.85.0.11' });
  const web = await nodeWithService(page, { node: 'sv-lb1', name: 'sv-web', vip: '10.85.0.100', port: '80', backend: '10.85.0.11' });
  await nodeWithService(page, { node: 'sv-lb2', name: 'sv-dns', vip: '10.85.0.100', port: '5353', backend: '10.85.0.11' });

  await page.goto(web.serviceHref);
  await expect(page.getByTestId('dsr-shared-vip')).toHaveText(
    "Backends count the return path per VIP: this return path line is all of 10.85.0.100's, sv-dns included.",
  );
  await expect(page.getByText('Backend return path, whole VIP (left axis)')).toBeVisible();
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

  // Alone on its VIP: no such note.
  await page.goto(alone.serviceHref);
  await expect(page.getByText('Backend return path (left axis)')).toBeVisible();
  await expect(page.getByTestId('dsr-shared-vip')).toHaveCount(0);
});
