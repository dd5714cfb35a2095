// Each backend's share of new flows right now, on the service page, on real
// agents in the local lab (the second web server of playwright.config.ts), in
// Chromium at 1280 and 390 px: stop one backend's server and, once the
// balancer's checks take it out of rotation, its share now reads 0 % while the
// other backends take all the new flows; start it again and it has a share
// again. Then the README's dark and phone screenshots of the overview and a
// service page, with the lab's live traffic on them.
import type { Locator, Page } from '@playwright/test';
import { labPort } from '../playwright.config.ts';
import { LAPTOP_AND_PHONE, SCREENSHOT_DIR, signInToLab, startLabServer, stopLabServer } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

const needsRoot = process.getuid?.() !== 0 ? 'needs root to build the local lab (CI runs as root)' : undefined;
const labUrl = `http://127.0.0.1:${labPort}`;
/** Health checks (every 2 s, fall 3), the "now" window (15 s) and the card's refresh (5 s) together, with room on a busy machine. */
const WITHIN = { timeout: 60_000, intervals: [1000] };
const BACKENDS = ['10.99.0.11', '10.99.0.12', '10.99.0.13'];

async function labReady(page: Page) {
  await expect
    .poll(async () => ((await (await page.request.get(`${labUrl}/api/health`)).json()) as { lab?: { state: string } }).lab?.state, {
      timeout: 150_000,
      intervals: [2000],
    })
    .toBe('ready');
}

/** Each backend's share of new flows now, as the card's rows carry it (null: no new flows to the service just now). */
async function sharesNow(card: Locator): Promise<Record<string, number | null>> {
  const out: Record<string, number | null> = {};
  for (const address of BACKENDS) {
    const v = await card.getByTestId(`backend-traffic-${address}`).getAttribute('data-share-now');
    out[address] = v === null || v === '' ? null : Number(v);
  }
  return out;
}

async function openLabWeb(page: Page) {
  await page.goto('/app/services');
  await page.getByRole('link', { name: 'lab-web' }).click();
  await expect(page).toHaveURL(/\/app\/services\/[^/]+$/);
}

test.describe("each backend's share of new flows now, in the local lab", () => {
  test.skip(Boolean(needsRoot), needsRoot ?? '');
  test.use({ baseURL: labUrl });

  test("a stopped backend's share now falls to 0 % and the others take its flows, on a laptop and on a phone", async ({ page }) => {
    test.setTimeout(300_000);
    await page.setViewportSize(LAPTOP_AND_PHONE[0]);
    await labReady(page);
    await signInToLab(page);
    await openLabWeb(page);
    const servicePage = page.url();
    const card = page.getByRole('table', { name: 'Traffic per backend' });
    // The lab's traffic reaches all three backends (after any earlier test's stop, the stopped one is back).
    await expect
      .poll(async () => Object.values(await sharesNow(card)).every((s) => s !== null && s > 0), {
        ...WITHIN,
        message: 'every backend has a share of new flows now',
      })
      .toBe(true);
    const before = await sharesNow(card);
    const othersBefore = before['10.99.0.11']! + before['10.99.0.13']!;
    expect(othersBefore).toBeLessThan(1);
    // On screen, not only in attributes: the column says so in words.
    await expect(card.getByRole('columnheader', { name: /New flows now/ })).toHaveCount(1);

    await page.goto('/app');
    await stopLabServer(page, 'b2');
    try {
      // One stop, read on both screens: stopping and restarting a server is what takes the time.
      for (const viewport of LAPTOP_AND_PHONE) {
        await page.setViewportSize(viewport);
        await page.goto(servicePage);
        const b2 = card.getByTestId('backend-traffic-10.99.0.12');
        await expect(b2, viewport.name).toHaveAttribute('data-share-now', '0', WITHIN);
        await expect(b2.getByTestId('share-now'), viewport.name).toHaveText('0 %');
        // Its five-minute share only fades: it still had flows a moment ago.
        expect(Number(await b2.getAttribute('data-share')), viewport.name).toBeGreaterThan(0);
        const after = await sharesNow(card);
        expect(after['10.99.0.11'], viewport.name).toBeGreaterThan(0);
        expect(after['10.99.0.13'], viewport.name).toBeGreaterThan(0);
        // The other two now take every new flow: together more than before.
        expect(after['10.99.0.11']! + after['10.99.0.13']!, viewport.name).toBeCloseTo(1, 6);
        expect(after['10.99.0.11']! + after['10.99.0.13']!, viewport.name).toBeGreaterThan(othersBefore);
        // The card fits the screen: no sideways scrolling of the page or of its table.
        expect(await page.evaluate(() => document.documentElement.scrollWidth), viewport.name).toBeLessThanOrEqual(viewport.width);
      }
    } finally {
      await page.goto('/app');
      await startLabServer(page, 'b2');
    }
    // Back in rotation: it has a share of new flows again.
    await page.goto(servicePage);
    await expect
      .poll(async () => (await sharesNow(card))['10.99.0.12'], { ...WITHIN, message: 'the restarted backend has new flows again' })
      .toBeGreaterThan(0);
  });

  test("the chart legends show the latest complete second's values while the lab sends traffic: never 0 for a report not yet in", async ({
    page,
  }) => {
    test.setTimeout(300_000);
    await page.setViewportSize({ width: 1280, height: 900 });
    await labReady(page);
    await signInToLab(page);
    await openLabWeb(page);
    const legends = page.getByTestId('chart-legend');
    // Balancer inbound, backend return path (the traffic chart), new flows (the flows chart).
    const read = async () =>
      Promise.all(
        (await legends.getByTestId('legend-value').all()).map(async (v) => ({
          value: await v.getAttribute('data-value'),
          text: (await v.textContent()) ?? '',
        })),
      );
    await expect.poll(async () => (await read()).length, WITHIN).toBe(3);
    // The legend reads the newest complete second: while traffic flows, a byte series there is a measured
    // rate (> 0) or, when that series was not reported for it, a dash; never 0 (a report not in yet is not a zero).
    const seen = { inbound: 0, returnPath: 0, flows: 0 };
    for (let i = 0; i < 30; i++) {
      const [inbound, returnPath, flows] = await read();
      for (const [name, v] of [
        ['balancer inbound', inbound!],
        ['backend return path', returnPath!],
      ] as const) {
        expect(v.value === '' ? v.text : Number(v.value), `${name} in the legend (sample ${i}: "${v.text}")`).not.toBe(0);
        if (v.value === '') expect(v.text).toBe('—');
      }
      if (Number(inbound!.value) > 0) seen.inbound++;
      if (Number(returnPath!.value) > 0) seen.returnPath++;
      if (Number(flows!.value) > 0) seen.flows++;
      await page.waitForTimeout(500);
    }
    // The lab's traffic is measured there, not only drawn: each series showed a rate above 0.
    console.log(`legend samples above 0 of 30: ${JSON.stringify(seen)}`);
    expect(seen.inbound).toBeGreaterThan(0);
    expect(seen.returnPath).toBeGreaterThan(0);
    expect(seen.flows).toBeGreaterThan(0);
  });

  test('the overview and a service page with live traffic, dark and on a phone, for the README', async ({ page }) => {
    test.setTimeout(300_000);
    await labReady(page);
    await signInToLab(page);
    await openLabWeb(page);
    const servicePage = page.url();
    const shots: { file: string; path: string; width: number; scheme: 'light' | 'dark' }[] = [];
    for (const [scheme, width] of [
      ['dark', 1280],
      ['light', 390],
      ['dark', 390],
    ] as const) {
      const suffix = `${width === 390 ? '-phone' : ''}${scheme === 'dark' ? '-dark' : ''}`;
      shots.push({ file: `overview${suffix}.png`, path: '/app', width, scheme });
      shots.push({ file: `service${suffix}.png`, path: servicePage, width, scheme });
    }
    for (const shot of shots) {
      await page.emulateMedia({ colorScheme: shot.scheme });
      await page.setViewportSize({ width: shot.width, height: shot.width === 390 ? 844 : 900 });
      await page.goto(shot.path);
      await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
      expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(shot.scheme === 'dark');
      // Live traffic on the chart, and (on the service page) every backend's share now: what the picture is for.
      const chart = page.getByTestId('traffic-chart').first();
      await expect.poll(async () => Number(await chart.getAttribute('data-return-path')), WITHIN).toBeGreaterThan(0);
      await expect.poll(async () => Number(await chart.getAttribute('data-inbound')), WITHIN).toBeGreaterThan(0);
      // The legend states the balancer's current inbound, not "0 bit/s" for a report not in yet.
      const inboundNow = chart.getByTestId('legend-value').first();
      await expect.poll(async () => Number((await inboundNow.getAttribute('data-value')) || 0), WITHIN).toBeGreaterThan(0);
      if (shot.path === servicePage) {
        const card = page.getByRole('table', { name: 'Traffic per backend' });
        await expect.poll(async () => Object.values(await sharesNow(card)).every((s) => s !== null && s > 0), WITHIN).toBe(true);
      }
      await expect(page.getByRole('status').filter({ hasText: /^Loading/ })).toHaveCount(0);
      expect(await page.evaluate(() => document.documentElement.scrollWidth), `${shot.file} fits`).toBeLessThanOrEqual(shot.width);
      await page.screenshot({ path: `${SCREENSHOT_DIR}/${shot.file}`, fullPage: true });
    }
  });
});
