// Access from the panel: your sessions (and signing out the others), and API
// tokens made on the Team page, shown once, usable, revoked.
import { expect, test } from './support/no-uncaught.ts';
import { SCREENSHOTS, signUp, uniqueEmail } from './support/app.ts';

test('lists your sessions and signs out the others', async ({ page, browser }) => {
  const email = uniqueEmail('sessions');
  await signUp(page, email);
  // The same account signed in from a second browser.
  const other = await browser.newContext({ userAgent: 'Second-Browser/1.0 (e2e)' });
  const second = await other.newPage();
  await second.goto('/login');
  await second.getByLabel('Email').fill(email);
  await second.getByLabel('Password').fill('a long enough password');
  await second.getByRole('button', { name: 'Sign in' }).click();
  await expect(second).toHaveURL(/\/app/);

  await page.goto('/app/account');
  const rows = page.getByRole('table', { name: 'Active sessions' }).locator('tbody tr');
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toContainText('this browser');
  await expect(rows.nth(1)).toContainText('Second-Browser/1.0');
  await expect(rows.nth(1)).toContainText('127.0.0.1');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${SCREENSHOTS}/account-sessions-390.png`, fullPage: true });
  await page.getByRole('button', { name: 'Sign out other sessions' }).click();
  await expect(page.getByText('Signed out 1 other session.')).toBeVisible();
  await expect(rows).toHaveCount(1);

  // The other browser's session is gone; this one still works.
  await second.goto('/app/services');
  await expect(second).toHaveURL(/\/login/);
  await page.goto('/app/services');
  await expect(page).toHaveURL(/\/app\/services/);
  await other.close();
});

test('an API token is made on the Team page, shown once, works, and stops working when revoked', async ({ page, request }) => {
  await signUp(page, uniqueEmail('tokens'));
  await page.goto('/app/team');
  await page.getByLabel('Token name').fill('ci pipeline');
  await page.getByLabel('Token role').selectOption('viewer');
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.getByTestId('new-api-token').textContent())!.trim();
  expect(token).toMatch(/^tula_/);
  const auth = { authorization: `Bearer ${token}` };
  expect((await request.get('/api/v1/services', { headers: auth })).status()).toBe(200);
  // Listed with its last use, never with the token itself.
  await page.reload();
  const row = page.getByRole('table', { name: 'API tokens' }).getByRole('row', { name: /ci pipeline/ });
  await expect(row).toContainText('viewer');
  await expect(row).not.toContainText('never'); // used above, and it expires in 90 days
  await expect(page.getByText(token)).toHaveCount(0);
  await row.getByRole('button', { name: 'Revoke ci pipeline' }).click();
  await page
    .getByRole('alertdialog', { name: 'Revoke the token ci pipeline?' })
    .getByRole('button', { name: 'Revoke ci pipeline' })
    .click();
  await expect(row).toContainText('revoked');
  const refused = await request.get('/api/v1/services', { headers: auth });
  expect(refused.status()).toBe(401);
  expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('revoked');
  // The audit log names who did it.
  await page.goto('/app/audit');
  await expect(page.getByRole('table', { name: 'Audit events' })).toContainText('revoked API token');
});
