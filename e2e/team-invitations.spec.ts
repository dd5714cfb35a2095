// Pending invitations in Chromium against the real panel: an owner resends one
// (a new mailed link; the old one stops working), copies a fresh link to pass
// on, and revokes it in a confirmation dialog, after which no link works.
import type { Page } from '@playwright/test';
import { latestMail, signUp, uniqueEmail, verifyEmail, withTestDatabase } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/** What accepting an invitation link says to the signed-in owner (not its addressee). */
async function acceptAnswer(page: Page, link: string): Promise<string> {
  const token = /\/invite\/([A-Za-z0-9_-]+)/.exec(link)![1]!;
  const r = await page.request.post('/api/trpc/team.accept', {
    headers: { origin: new URL(page.url()).origin },
    data: { json: { token } },
  });
  return JSON.stringify(await r.json());
}
const UNKNOWN = 'unknown, used or expired';

test('pending invitations can be resent, their link copied, and revoked', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const owner = uniqueEmail('inv-owner');
  await signUp(page, owner);
  await verifyEmail(page, owner);
  const invitee = uniqueEmail('inv-guest');
  await page.goto('/app/team');
  await page.getByLabel('Email', { exact: true }).fill(invitee);
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByText(`Invitation for ${invitee} kept in the outbox below`)).toBeVisible();
  const first = (await latestMail(invitee, /invited you/)).link;
  expect(await acceptAnswer(page, first)).toContain(`This invitation is for ${invitee}`);

  await expect(page.getByRole('listitem').filter({ hasText: `${invitee} as viewer` })).toBeVisible();
  await page.getByRole('button', { name: `Resend the invitation to ${invitee}` }).click();
  await expect(
    page.getByRole('status').filter({ hasText: `A new link for ${invitee}, valid for 7 days, is in the outbox below` }),
  ).toBeVisible();
  const resent = (await latestMail(invitee, /invited you/)).link;
  expect(resent).not.toBe(first);
  expect(await acceptAnswer(page, first)).toContain(UNKNOWN);
  expect(await acceptAnswer(page, resent)).toContain(`This invitation is for ${invitee}`);

  await page.getByRole('button', { name: `Copy a link to the invitation for ${invitee}` }).click();
  const shown = page.getByLabel(`Invitation link for ${invitee}`);
  await expect(shown).toHaveValue(/\/invite\/tinv/);
  const copied = await shown.inputValue();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(copied);
  expect(await acceptAnswer(page, resent)).toContain(UNKNOWN);
  expect(await acceptAnswer(page, copied)).toContain(`This invitation is for ${invitee}`);

  await page.getByRole('button', { name: `Revoke the invitation to ${invitee}` }).click();
  await page
    .getByRole('alertdialog', { name: `Revoke the invitation to ${invitee}?` })
    .getByRole('button', { name: 'Revoke invitation' })
    .click();
  const pending = page.getByRole('listitem').filter({ hasText: `${invitee} as viewer` });
  await expect(pending).toHaveCount(0);
  expect(await acceptAnswer(page, copied)).toContain(UNKNOWN);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Team', exact: true })).toBeVisible();
  await expect(page.getByRole('table')).toBeVisible();
  // No longer pending (its mails stay in the outbox, as sent mail stays in an inbox).
  await expect(page.getByRole('listitem').filter({ hasText: `${invitee} as viewer` })).toHaveCount(0);
  await expect(page.getByRole('list', { name: 'Kept mail' })).toContainText(invitee);
});

/** The colour an element is painted in, as [r, g, b]: whatever the CSS colour syntax, read back through a canvas. */
function paintedRgb(button: import('@playwright/test').Locator): Promise<number[]> {
  return button.evaluate((el) => {
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.fillStyle = getComputedStyle(el).backgroundColor;
    ctx.fillRect(0, 0, 1, 1);
    return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)];
  });
}

test('revoking an invitation asks with a danger-coloured button; its date never splits on a phone (dark)', async ({ page }) => {
  await page.emulateMedia({ colorScheme: 'dark' });
  const owner = uniqueEmail('inv-phone');
  await signUp(page, owner);
  await verifyEmail(page, owner);
  const invitee = uniqueEmail('inv-phone-guest');
  await page.goto('/app/team');
  await page.getByLabel('Email', { exact: true }).fill(invitee);
  await page.getByRole('button', { name: 'Send invitation' }).click();
  const pending = page.getByRole('listitem').filter({ hasText: `${invitee} as viewer` });
  await expect(pending).toBeVisible();

  // Addresses of every length from 8 to 47 characters, so that at 390 px the line breaks at every place near the date.
  await withTestDatabase(async (sql) => {
    const { rows } = await sql.query(`SELECT "organizationId", "inviterId" FROM "Invitation" WHERE email = $1`, [invitee]);
    for (let n = 8; n < 48; n++)
      await sql.query(
        `INSERT INTO "Invitation" (id, "organizationId", email, "expiresAt", "inviterId") VALUES ($1, $2, $3, now() + interval '7 days', $4)`,
        [`e2einv${n}-${Date.now()}`, rows[0].organizationId, `${'x'.repeat(n)}@example.com`, rows[0].inviterId],
      );
  });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  const items = page.getByRole('listitem').filter({ hasText: /@example\.com as viewer/ });
  await expect(items).toHaveCount(41);
  // Each date is one unbroken run, wherever its address happens to wrap.
  const split = await items.evaluateAll((lis) =>
    lis.flatMap((li) => {
      const walker = document.createTreeWalker(li, NodeFilter.SHOW_TEXT);
      for (let t = walker.nextNode(); t; t = walker.nextNode()) {
        const date = /\d+\/\d+\/\d{4}/.exec(t.textContent!);
        if (!date) continue;
        const range = document.createRange();
        range.setStart(t, date.index);
        range.setEnd(t, date.index + date[0].length);
        const lines = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top))).size;
        return lines === 1 ? [] : [li.textContent];
      }
      return [`no date in ${li.textContent}`];
    }),
  );
  expect(split, 'invitations whose date is split across lines at 390 px').toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

  await page.getByRole('button', { name: `Revoke the invitation to ${invitee}` }).click();
  const go = page
    .getByRole('alertdialog', { name: `Revoke the invitation to ${invitee}?` })
    .getByRole('button', { name: 'Revoke invitation' });
  await expect(go).toBeVisible();
  const [r, g, b] = await paintedRgb(go);
  expect(r, `the go-ahead button is red (rgb ${r}, ${g}, ${b})`).toBeGreaterThan(Math.max(g!, b!) + 60);
  await go.click();
  await expect(pending).toHaveCount(0);
});
