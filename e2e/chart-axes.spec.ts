// The traffic chart and the new-flows chart beside it (below it on a phone), in
// Debian's Chromium: for every range both span the same window and mark the same
// times, several readable labels that overlap nothing (read from what uPlot draws
// on its canvas), lined up when one is above the other. On the ranges over several
// days the legend dates the value it shows, the latest and the one hovered.
import { randomBytes } from 'node:crypto';
import type { Page } from '@playwright/test';
import { organizationId, SCREENSHOTS, signUp, uniqueEmail, withTestDatabase } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/** A text a canvas drew, and the box its ink covers (CSS pixels from the canvas's top left). */
interface DrawnText {
  text: string;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** Records the texts each canvas drew since it was last cleared (uPlot clears its canvas before each drawing). */
async function recordCanvasTexts(page: Page) {
  await page.addInitScript(() => {
    const drawn = new WeakMap<HTMLCanvasElement, DrawnText[]>();
    (window as unknown as { canvasTexts: typeof drawn }).canvasTexts = drawn;
    const proto = CanvasRenderingContext2D.prototype;
    // The originals, taken off the prototype to be called on each context.
    const clearRect = Object.getOwnPropertyDescriptor(proto, 'clearRect')!.value as CanvasRenderingContext2D['clearRect'];
    const fillText = Object.getOwnPropertyDescriptor(proto, 'fillText')!.value as CanvasRenderingContext2D['fillText'];
    proto.clearRect = function (x, y, w, h) {
      drawn.set(this.canvas, []);
      clearRect.call(this, x, y, w, h);
    };
    proto.fillText = function (text, x, y, maxWidth) {
      const m = this.measureText(text);
      const t = this.getTransform();
      const [sx, sy] = [t.a / devicePixelRatio, t.d / devicePixelRatio];
      const [ax, ay] = [(t.a * x + t.e) / devicePixelRatio, (t.d * y + t.f) / devicePixelRatio];
      drawn.get(this.canvas)?.push({
        text,
        left: ax - m.actualBoundingBoxLeft * sx,
        right: ax + m.actualBoundingBoxRight * sx,
        top: ay - m.actualBoundingBoxAscent * sy,
        bottom: ay + m.actualBoundingBoxDescent * sy,
      });
      fillText.call(this, text, x, y, maxWidth);
    };
  });
}

/** A chart's drawn axis labels: the time axis's (below the plot) and the value axes', with where the canvas and the plot are. */
const chartText = (page: Page, name: RegExp) =>
  page.getByRole('img', { name }).evaluate((el) => {
    const canvas = el.querySelector('canvas')!;
    const c = canvas.getBoundingClientRect();
    const o = el.querySelector('.u-over')!.getBoundingClientRect();
    const texts = (window as unknown as { canvasTexts: WeakMap<HTMLCanvasElement, DrawnText[]> }).canvasTexts.get(canvas) ?? [];
    const plot = { left: o.left - c.left, width: o.width, bottom: o.bottom - c.top };
    return {
      pageLeft: c.left,
      width: c.width,
      plot,
      time: texts.filter((t) => t.top >= plot.bottom).sort((a, b) => a.left - b.left),
      all: texts,
    };
  });

/** Pairs of texts whose ink overlaps, or comes closer than 2 px side by side. */
function overlapping(texts: DrawnText[]): string[] {
  const out: string[] = [];
  for (const [i, a] of texts.entries())
    for (const b of texts.slice(i + 1))
      if (a.left < b.right + 2 && b.left < a.right + 2 && a.top < b.bottom && b.top < a.bottom) out.push(`"${a.text}" / "${b.text}"`);
  return out;
}

/** Both charts' time axes, as they are drawn now: the same labels at the same moments, readable. */
async function expectSameReadableTimeAxes(page: Page, minLabels: number, stacked: boolean) {
  const traffic = await chartText(page, /^Throughput over time/);
  const flows = await chartText(page, /^New flows per second/);
  const where = (c: typeof traffic) => c.time.map((t) => t.text);
  expect(where(flows), 'the same time labels on both charts').toEqual(where(traffic));
  expect(traffic.time.length, `at least ${minLabels} time labels`).toBeGreaterThanOrEqual(minLabels);
  for (const [i, f] of flows.time.entries()) {
    const t = traffic.time[i]!;
    const centre = (d: DrawnText) => (d.left + d.right) / 2;
    // The same window: each label at the same share of its plot's width (to a pixel of the narrower plot).
    const share = (c: typeof traffic, d: DrawnText) => (centre(d) - c.plot.left) / c.plot.width;
    expect(
      Math.abs(share(flows, f) - share(traffic, t)) * Math.min(flows.plot.width, traffic.plot.width),
      `"${f.text}"`,
    ).toBeLessThanOrEqual(1);
    // One above the other, the same moment is at the same place on the page.
    if (stacked)
      expect(Math.abs(flows.pageLeft + centre(f) - (traffic.pageLeft + centre(t))), `"${f.text}" lined up`).toBeLessThanOrEqual(1);
  }
  for (const c of [traffic, flows]) {
    expect(overlapping(c.all), 'labels overlapping').toEqual([]);
    expect(
      c.all.filter((t) => t.left < 0 || t.right > c.width).map((t) => t.text),
      'labels cut at the canvas edge',
    ).toEqual([]);
  }
}

/** The traffic chart legend's time: its text and the date (as the page writes it) of the step it is for. */
const legendTime = (page: Page) =>
  page
    .getByTestId('traffic-chart')
    .getByTestId('legend-time')
    .evaluate((el: HTMLElement) => {
      const at = new Date(Number(el.dataset.time));
      return {
        text: el.textContent ?? '',
        date: at.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }),
        day: at.toDateString(),
      };
    });

/** The legend of a range over several days says which day its value is from: the latest one, and where the pointer is. */
async function expectDatedLegend(page: Page, range: string) {
  const latest = await legendTime(page);
  expect(latest.text, `${range}: the latest value's time`).toMatch(/^latest, /);
  expect(latest.text, `${range}: the latest value's date`).toContain(latest.date);
  const plot = page.getByRole('img', { name: /^Throughput over time/ }).locator('.u-over');
  const box = (await plot.boundingBox())!;
  // Near the window's start: on 7 days, six days before the latest value.
  await page.mouse.move(box.x + box.width * 0.05, box.y + box.height / 2);
  await expect(page.getByTestId('traffic-chart').getByTestId('legend-time')).not.toHaveText(/^latest/);
  const hovered = await legendTime(page);
  expect(hovered.text, `${range}: the hovered value's date`).toContain(hovered.date);
  if (range === '7 days') expect(hovered.day, 'the hovered value is from another day than the latest').not.toBe(latest.day);
  await page.mouse.move(0, 0);
}

/** Counter history for every range: raw seconds (live), minutes (1 h, 24 h) and hours (7 d), all from one replica. */
async function storeHistory(orgId: string) {
  const replica = randomBytes(4).toString('hex');
  await withTestDatabase(async (sql) => {
    await sql.query(
      `INSERT INTO "CounterSample" ("organizationId", replica, batch, kind, "seriesKey", at, packets, bytes, "newFlows")
       SELECT $1, $2, extract(epoch FROM s) * 1000 + 500, k, CASE k WHEN 'service' THEN 'e2e-service' ELSE '10.99.0.1' END, s, 1,
              CASE k WHEN 'service' THEN 40000 ELSE 2400000 END, CASE k WHEN 'service' THEN 3 + (extract(epoch FROM s)::int % 5) ELSE 0 END
         FROM generate_series(date_trunc('second', now()) - interval '280 seconds', date_trunc('second', now()) - interval '5 seconds', interval '1 second') s,
              unnest(ARRAY['service', 'vip_return']::"SeriesKind"[]) k`,
      [orgId, replica],
    );
    for (const [resolution, unit, count] of [
      ['minute', 'minute', 24 * 60],
      ['hour', 'hour', 7 * 24],
    ] as const)
      await sql.query(
        `INSERT INTO "CounterRollup" ("organizationId", resolution, bucket, replica, kind, "seriesKey", packets, bytes, "newFlows")
         SELECT $1, $2::"RollupResolution", b, $3, k, CASE k WHEN 'service' THEN 'e2e-service' ELSE '10.99.0.1' END, 1,
                CASE k WHEN 'service' THEN 2400000 ELSE 144000000 END, CASE k WHEN 'service' THEN 200 ELSE 0 END
           FROM generate_series(date_trunc($4, now()) - $5 * ('1 ' || $4)::interval, date_trunc($4, now()) - ('1 ' || $4)::interval, ('1 ' || $4)::interval) b,
                unnest(ARRAY['service', 'vip_return']::"SeriesKind"[]) k`,
        [orgId, resolution, replica, unit, count],
      );
  });
}

const RANGES = ['Live', '1 hour', '24 hours', '7 days'] as const;

test('both charts span the same window with the same readable time labels, and a dated legend over days, in every range, wide and at 390 px, light and dark', async ({
  page,
}) => {
  await recordCanvasTexts(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await signUp(page, uniqueEmail('charts'));
  await storeHistory(await organizationId(page));
  await page.goto('/app');
  for (const [width, dark] of [
    [1280, false],
    [390, false],
    [390, true],
  ] as const) {
    await page.setViewportSize({ width, height: 1100 });
    await page.emulateMedia({ colorScheme: dark ? 'dark' : 'light' });
    for (const range of RANGES) {
      await page.getByRole('radio', { name: range }).click();
      await expect(page.getByRole('img', { name: /^New flows per second/ }).locator('canvas')).toBeVisible();
      // The narrower plot (the flows chart beside the traffic chart) is about 200 px wide: three or more
      // labels fit; at 390 px each plot is about 130 px beside its two value axes, and two or three fit.
      await expect(() => expectSameReadableTimeAxes(page, width === 390 ? 2 : 3, width === 390)).toPass({ timeout: 10_000 });
      if (range === '24 hours' || range === '7 days') await expectDatedLegend(page, range);
      await page
        .locator('section')
        .filter({ has: page.getByTestId('traffic-chart') })
        .screenshot({ path: `${SCREENSHOTS}/charts-${range.replace(' ', '')}-${width}${dark ? '-dark' : ''}.png` });
    }
  }
});
