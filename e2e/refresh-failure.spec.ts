// A refresh that fails (the panel restarting, the network gone a moment) keeps
// the page: the node page and the service edit page go on showing what was
// loaded, with a banner saying the refresh failed, that it retries, and a
// Retry button; an edit being typed survives. Only a page that never loaded
// shows the error instead. The failure is Chromium's own: the page's tRPC
// requests are aborted at the network layer (page.route), as a dropped
// connection aborts them. Light at desktop width and dark at 390 px.
import type { Page } from '@playwright/test';
import { nodeWithService, SCREENSHOTS, signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/** Aborts every tRPC request that asks for `procedure` (a batch carrying it too), until the returned function is called. */
async function failRequests(page: Page, procedure: string): Promise<() => Promise<void>> {
  const match = (url: URL) => url.pathname.startsWith('/api/trpc/') && url.pathname.split('/').pop()!.split(',').includes(procedure);
  const abort = (route: import('@playwright/test').Route) => route.abort('connectionreset');
  await page.route(match, abort);
  return () => page.unroute(match, abort);
}

/** Whatever the page shows for the failed request (not Next's empty route announcer, also an alert). */
const failureShown = (page: Page) => page.getByRole('alert').filter({ hasText: /fetch|reached|refresh/i });

/** No sideways scrolling: everything fits the viewport's width. */
const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

test.describe('a failed refresh keeps the page', () => {
  for (const view of [
    { name: 'desktop, light', tag: 'd', width: 1280, scheme: 'light' as const },
    { name: '390 px, dark', tag: 'p', width: 390, scheme: 'dark' as const },
  ]) {
    /** Signed up, with a node and a service, in this view's width and theme. */
    async function setUp(page: Page, what: string) {
      await page.emulateMedia({ colorScheme: view.scheme });
      await page.setViewportSize({ width: view.width, height: view.width === 390 ? 844 : 900 });
      await signUp(page, uniqueEmail('refresh'));
      return nodeWithService(page, {
        node: `rf-${what}-${view.tag}-lb1`,
        name: `rf-${what}-${view.tag}-web`,
        vip: '10.83.0.100',
        port: '80',
        backend: '10.83.0.11',
      });
    }

    test(`the node page keeps its data, says the refresh failed and retries (${view.name})`, async ({ page }) => {
      const { nodeId } = await setUp(page, 'node');
      // The node page refreshes every 3 s; the panel stops answering it.
      await page.goto(`/app/fleet/${nodeId}`);
      const heading = page.getByRole('heading', { name: `rf-node-${view.tag}-lb1` });
      await expect(heading).toBeVisible();
      const restore = await failRequests(page, 'nodes.get');
      // Once the failure shows, the last data is still on the page beside it.
      await expect(failureShown(page)).toBeVisible({ timeout: 30_000 });
      await expect(heading).toBeVisible();
      await expect(page.getByText('Desired state (v1 document)')).toBeVisible();
      const banner = page.getByRole('alert').filter({ hasText: 'Could not refresh this node' });
      await expect(banner).toContainText('It retries every 3 s');
      await expect(banner).toContainText(/what was loaded at \d/);
      expect(await fitsWidth(page)).toBe(true);
      await page.screenshot({ path: `${SCREENSHOTS}/refresh-failed-node-${view.tag}.png`, fullPage: true });
      // Back: Retry brings it current and the banner goes.
      await restore();
      await banner.getByRole('button', { name: 'Retry' }).click();
      await expect(banner).toBeHidden();
      await expect(heading).toBeVisible();
    });

    test(`the service edit page keeps the edit being typed when a refresh fails (${view.name})`, async ({ page }) => {
      const { serviceHref } = await setUp(page, 'edit');
      await page.goto(`${serviceHref}/edit`);
      const name = page.getByLabel('Name');
      await expect(name).toHaveValue(`rf-edit-${view.tag}-web`);
      await name.fill(`rf-edit-${view.tag}-shop`);
      const restore = await failRequests(page, 'services.get');
      // It refreshes when the tab is shown again (react-query's refetch on focus), once its data is 5 s old.
      await expect(async () => {
        await page.evaluate(() => window.dispatchEvent(new Event('visibilitychange')));
        await expect(failureShown(page)).toBeVisible({ timeout: 5000 });
      }).toPass({ timeout: 60_000 });
      await expect(name).toHaveValue(`rf-edit-${view.tag}-shop`);
      await expect(page.getByRole('button', { name: 'Save changes' })).toBeVisible();
      const banner = page.getByRole('alert').filter({ hasText: 'Could not refresh this service' });
      await expect(banner).toContainText('It retries when the network comes back or you return to this tab');
      expect(await fitsWidth(page)).toBe(true);
      await page.screenshot({ path: `${SCREENSHOTS}/refresh-failed-edit-${view.tag}.png`, fullPage: true });
      await restore();
      await banner.getByRole('button', { name: 'Retry' }).click();
      await expect(banner).toBeHidden();
      await expect(name).toHaveValue(`rf-edit-${view.tag}-shop`);
    });
  }

  test('a node page that never loaded says so and loads on Retry', async ({ page }) => {
    await signUp(page, uniqueEmail('refresh-never'));
    const { nodeId } = await nodeWithService(page, {
      node: 'rf-n-lb1',
      name: 'rf-n-web',
      vip: '10.83.0.102',
      port: '80',
      backend: '10.83.0.11',
    });
    const restore = await failRequests(page, 'nodes.get');
    await page.goto(`/app/fleet/${nodeId}`);
    const error = page.getByRole('alert').filter({ hasText: 'Could not load this node' });
    await expect(error).toBeVisible({ timeout: 30_000 });
    await expect(page.getByRole('heading', { name: 'rf-n-lb1' })).toBeHidden();
    await restore();
    await error.getByRole('button', { name: 'Retry' }).click();
    await expect(page.getByRole('heading', { name: 'rf-n-lb1' })).toBeVisible();
    await expect(error).toBeHidden();
  });
});
