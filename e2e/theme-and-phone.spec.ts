// The dark theme, the 390 px phone width, and every page in both, in Debian's
// Chromium. The theme follows the system setting until a person chooses, is on
// before the first paint, and is remembered. Every page (with a node, a service
// and its backends) fits 390 px without sideways scrolling, light and dark, and
// throws no uncaught error. Owners read their organisation's kept mail.
// With TULA_SCREENSHOT_DIR=docs/screenshots the run refreshes the README's screenshots.
import type { Page } from '@playwright/test';
import { addMember, nodeWithService, SCREENSHOT_DIR, signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/**
 * Screenshots the journey spec and the lab's backend-share spec take with live
 * traffic; this spec's fresh organisation has none.
 */
const WITH_TRAFFIC = new Set([
  'overview.png',
  'overview-phone.png',
  'overview-dark.png',
  'overview-phone-dark.png',
  'service.png',
  'service-phone.png',
  'service-dark.png',
  'service-phone-dark.png',
]);

/** What the page looked like when <body> first appeared: the theme must be set by then (no flash). */
async function recordFirstPaintTheme(page: Page) {
  await page.addInitScript(() => {
    const w = window as unknown as { firstBodyDark?: boolean };
    new MutationObserver((_m, observer) => {
      if (!document.body) return;
      w.firstBodyDark = document.documentElement.classList.contains('dark');
      observer.disconnect();
    }).observe(document, { childList: true, subtree: true });
  });
}
const firstBodyDark = (page: Page) => page.evaluate(() => (window as unknown as { firstBodyDark?: boolean }).firstBodyDark);
const isDark = (page: Page) => page.evaluate(() => document.documentElement.classList.contains('dark'));
/** Relative luminance of the page's background (0 black, 1 white). */
const backgroundLuminance = (page: Page) =>
  page.evaluate(() => {
    const c = document.createElement('canvas').getContext('2d')!;
    c.fillStyle = getComputedStyle(document.body).backgroundColor;
    c.fillRect(0, 0, 1, 1);
    const [r, g, b] = c.getImageData(0, 0, 1, 1).data;
    return (0.2126 * r! + 0.7152 * g! + 0.0722 * b!) / 255;
  });

/**
 * The visible drop-downs too narrow for the text of their chosen option (plus
 * their padding and Chromium's arrow), with the width each has and needs.
 */
const cutSelects = (page: Page) =>
  page.evaluate(() => {
    const c = document.createElement('canvas').getContext('2d')!;
    return Array.from(document.querySelectorAll('select'))
      .filter((s) => s.getClientRects().length > 0)
      .flatMap((s) => {
        const style = getComputedStyle(s);
        c.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
        const text = s.selectedOptions[0]?.textContent ?? '';
        // Chromium draws the arrow in a box about as wide as the font is tall, beside the padding.
        const needs = Math.ceil(
          c.measureText(text).width + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) + parseFloat(style.fontSize),
        );
        return s.clientWidth < needs ? [`${s.getAttribute('aria-label') ?? s.id} "${text}": ${s.clientWidth} px of ${needs}`] : [];
      });
  });

test('the theme follows the system, is set before the first paint, and a chosen one is remembered', async ({ page }) => {
  await recordFirstPaintTheme(page);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/login');
  expect(await firstBodyDark(page)).toBe(true);
  expect(await backgroundLuminance(page)).toBeLessThan(0.15);

  await page.emulateMedia({ colorScheme: 'light' });
  await expect.poll(() => isDark(page)).toBe(false);
  expect(await backgroundLuminance(page)).toBeGreaterThan(0.9);

  // Chosen dark against a light system: on at once, and from the first paint of the next page.
  await signUp(page, uniqueEmail('theme'));
  await page.getByLabel('Theme').selectOption('dark');
  await expect.poll(() => isDark(page)).toBe(true);
  await page.goto('/app/services');
  expect(await firstBodyDark(page)).toBe(true);
  await expect(page.getByLabel('Theme')).toHaveValue('dark');
  // Back to the system setting, which then wins again.
  await page.getByLabel('Theme').selectOption('system');
  await expect.poll(() => isDark(page)).toBe(false);
  await page.emulateMedia({ colorScheme: 'dark' });
  await expect.poll(() => isDark(page)).toBe(true);
});

test("an owner reads the organisation's kept mail in the panel, and never another organisation's", async ({ browser }) => {
  const contexts = await Promise.all([browser.newContext(), browser.newContext()]);
  const [a, b] = await Promise.all(contexts.map((c) => c.newPage()));
  const other = uniqueEmail('outbox-b');
  await signUp(b!, other);
  // B confirms its address from its own outbox (no mail server), then invites someone.
  await b!.goto('/app/team');
  const bMail = b!.getByRole('list', { name: 'Kept mail' });
  await expect(bMail).toContainText('Confirm your email address for Tula');
  await b!.goto((/https?:\/\/\S+/.exec((await bMail.getByTestId('outbox-mail').first().textContent()) ?? '') ?? [''])[0]);
  await b!.goto('/app/team');
  const bInvitee = uniqueEmail('invited-by-b');
  await b!.getByLabel('Email', { exact: true }).fill(bInvitee);
  await b!.getByRole('button', { name: 'Send invitation' }).click();
  await expect(b!.getByRole('status').filter({ hasText: bInvitee })).toContainText('kept in the outbox below');
  await expect(bMail).toContainText(bInvitee);

  const owner = uniqueEmail('outbox-a');
  await signUp(a!, owner);
  await a!.goto('/app/team');
  const aMail = a!.getByRole('list', { name: 'Kept mail' });
  await expect(aMail).toContainText(`To: ${owner}`);
  await expect(a!.getByText(/no mail server/)).toBeVisible();
  // Nothing of B's: not its invitation, not its owner's confirmation link.
  await expect(aMail).not.toContainText(bInvitee);
  await expect(aMail).not.toContainText(other);
  await Promise.all(contexts.map((c) => c.close()));
});

test('every page at 1280 and 390 px, light and dark: nothing scrolls sideways, navigation and tables fit, no page throws', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await signUp(page, uniqueEmail('pages'), 'Ada Operator');
  // A node (a row: an agent that never connected) and a service on it, so their own pages and the backends' actions exist.
  const { nodeId, serviceHref } = await nodeWithService(page, {
    node: 'edge-lb-1',
    name: 'shop-frontend',
    vip: '10.79.0.100',
    port: '443',
    backend: '10.79.0.11',
  });
  // A teammate, so the owner's role select shows in the members table.
  const teammate = await addMember(page, 'Grace Viewer', 'viewer');
  // A second revision, so the audit log and history show a change field by field.
  await page.goto(`${serviceHref}/edit`);
  await page.getByLabel('Port or range').fill('443-444');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByTestId('service-review').getByRole('button', { name: 'Apply changes' }).click();
  await expect(page).toHaveURL(new RegExp(`${serviceHref}$`));
  await page.goto('/app/audit');
  await expect(page.getByRole('table', { name: 'Audit events' })).toContainText('ports 443 → 443-444');
  await expect(page.getByRole('table', { name: 'Audit events' }).getByRole('link', { name: 'shop-frontend' }).first()).toBeVisible();

  const pages: [string, string][] = [
    ['overview', '/app'],
    ['services', '/app/services'],
    ['service', serviceHref],
    ['service-edit', `${serviceHref}/edit`],
    ['service-history', `${serviceHref}/history`],
    ['service-new', '/app/services/new'],
    ['fleet', '/app/fleet'],
    ['node', `/app/fleet/${nodeId}`],
    ['audit', '/app/audit'],
    ['team', '/app/team'],
    ['api', '/app/api'],
    ['account', '/app/account'],
    ['onboarding', '/app/onboarding'],
  ];
  const shots = new Set(['overview', 'service', 'audit', 'team', 'fleet']);
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
      for (const [name, path] of pages) {
        await page.goto(path);
        await expect(page.getByRole('heading', { level: 1 }).first()).toBeVisible();
        await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
        expect(await isDark(page), `${path} ${scheme}`).toBe(scheme === 'dark');
        // Spinners gone: what is measured is the page with its data.
        await expect(page.getByRole('status').filter({ hasText: /^Loading/ })).toHaveCount(0);
        await expect
          .poll(() => page.evaluate(() => document.documentElement.scrollWidth), { message: `${path} at ${width} px, ${scheme}` })
          .toBeLessThanOrEqual(width);
        if (width === 390) {
          // The navigation wraps: every link is on screen, none beyond the right edge.
          const rights = await page
            .getByRole('navigation', { name: 'Main' })
            .getByRole('link')
            .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
          expect(Math.max(...rights), `navigation on ${path}`).toBeLessThanOrEqual(390);
          // Tables too: none scrolls inside its box.
          const wide = await page
            .locator('.stack-table')
            .evaluateAll((els) => els.filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.querySelector('caption')?.textContent));
          expect(wide, `tables scrolling sideways on ${path}`).toEqual([]);
        }
        // Every drop-down shows its chosen option whole (the members table's role select was cut to "vie").
        if (name === 'team') await expect(page.getByLabel(`Role of ${teammate}`)).toHaveValue('viewer');
        expect(await cutSelects(page), `drop-downs cut short on ${path} at ${width} px`).toEqual([]);
        const file = `${name}${width === 390 ? '-phone' : ''}${scheme === 'dark' ? '-dark' : ''}.png`;
        if (shots.has(name) && !WITH_TRAFFIC.has(file)) await page.screenshot({ path: `${SCREENSHOT_DIR}/${file}`, fullPage: true });
      }
    }
  }
});
