// Pending invitations in Chromium against the real panel: an owner resends one
// (a new mailed link; the old one stops working), copies a fresh link to pass
// on, and revokes it in a confirmation dialog, after which no link works.
import type { Page } from '@playwright/test';
import { latestMail, signUp, uniqueEmail, verifyEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

/** What accepting an invitation link says to the signed-in owner (not its addressee). */
async function acceptAnswer(page: Page, link: string): Promise<string> {
  const token = /\/invite\/([A-Za-z0-9_-]+)/.exec(link)![1]!;
  const r = await page.request.post('/api/trpc/team.accept', { headers: { origin: new URL(page.url()).origin }, data: { json: { token } } });
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
  await page.getByLabel('Email').fill(invitee);
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByText(`Invitation sent to ${invitee}`)).toBeVisible();
  const first = (await latestMail(invitee, /invited you/)).link;
  expect(await acceptAnswer(page, first)).toContain(`This invitation is for ${invitee}`);

  await expect(page.getByRole('listitem').filter({ hasText: invitee })).toBeVisible();
  await page.getByRole('button', { name: `Resend the invitation to ${invitee}` }).click();
  await expect(page.getByRole('status').filter({ hasText: `Sent ${invitee} a new link` })).toBeVisible();
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
  await page.getByRole('alertdialog', { name: `Revoke the invitation to ${invitee}?` }).getByRole('button', { name: 'Revoke invitation' }).click();
  const pending = page.getByRole('listitem').filter({ hasText: invitee });
  await expect(pending).toHaveCount(0);
  expect(await acceptAnswer(page, copied)).toContain(UNKNOWN);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Team', exact: true })).toBeVisible();
  await expect(page.getByRole('table')).toBeVisible();
  await expect(page.getByText(invitee)).toHaveCount(0);
});
