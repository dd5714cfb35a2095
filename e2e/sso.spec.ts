// Single sign-on through a real OpenID Connect provider (node-oidc-provider on
// a loopback port, its own login and consent pages): an owner configures it on
// the Team page; a person of an allowed domain signs in through the provider
// and lands in that organisation with the default role; an address of another
// domain is refused and no account is made; a wrong client secret says so.
import type { Browser, Page } from '@playwright/test';
import pg from 'pg';
import { signUp } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';
import { startIdp, type TestIdp } from './support/oidc.ts';

const suffix = `${Date.now()}${Math.floor(Math.random() * 1e4)}`;
const domain = `acme${suffix}.example.com`;
let idp: TestIdp | undefined;
test.afterAll(async () => idp?.stop());

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Starts "Sign in with SSO" in a fresh browser and goes through the provider's login and consent pages. */
async function signInThroughIdp(browser: Browser, start: string, login: string): Promise<{ page: Page; close: () => Promise<void> }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByRole('link', { name: 'Sign in with SSO' }).click();
  await page.getByLabel('Work email or organisation ID').fill(start);
  await page.getByRole('button', { name: 'Continue with SSO' }).click();
  // The provider's own pages.
  await expect(page).toHaveURL(new RegExp(`^${idp!.issuer}/interaction/`));
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('anything');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  return { page, close: () => context.close() };
}

test('single sign-on: configure, join with the default role, refuse another domain, report a wrong secret', async ({ page, browser }) => {
  const owner = `owner@${domain}`;
  await signUp(page, owner);
  await page.goto('/app/team');
  const card = page.getByRole('form', { name: 'Single sign-on settings' });
  await expect(card).toBeVisible();
  const redirectUrl = (await page.locator('code', { hasText: '/api/auth/callback/sso-' }).textContent())!.trim();
  const slug = (await page.locator('p', { hasText: 'Organisation ID for' }).locator('code').nth(1).textContent())!.trim();
  idp = await startIdp(redirectUrl);

  // A typo in the issuer is caught on save, with what to check.
  await card.getByLabel('Issuer URL').fill(`${idp.issuer}/nope`);
  await card.getByLabel('Client ID').fill(idp.clientId);
  await card.getByLabel('Client secret').fill(idp.clientSecret);
  await card.getByLabel('Allowed email domains').fill(domain);
  await card.getByLabel('Default role for new members').selectOption('admin');
  await card.getByRole('button', { name: 'Save single sign-on' }).click();
  await expect(page.getByText(/No OpenID Connect discovery document for this issuer/)).toBeVisible();
  await card.getByLabel('Issuer URL').fill(idp.issuer);
  await card.getByRole('button', { name: 'Save single sign-on' }).click();
  await expect(page.getByText('Single sign-on saved.')).toBeVisible();

  // The secret never comes back to the browser, and is stored sealed.
  await page.reload();
  await expect(card.getByLabel('Client ID')).toHaveValue(idp.clientId);
  await expect(card.getByLabel('Client secret')).toHaveValue('');
  expect(await page.content()).not.toContain(idp.clientSecret);
  const [stored] = await query<{ clientSecretSealed: string }>(`SELECT "clientSecretSealed" FROM "SsoConnection"`);
  expect(stored!.clientSecretSealed).toMatch(/^v1\./);
  expect(stored!.clientSecretSealed).not.toContain(idp.clientSecret);

  // A person of the allowed domain: found by address, signed in at the provider, in the organisation as admin.
  const alice = `alice@${domain}`;
  const a = await signInThroughIdp(browser, alice, alice);
  await expect(a.page).toHaveURL(/\/app/);
  await a.page.goto('/app/team');
  await expect(a.page.getByRole('row', { name: new RegExp(owner) })).toBeVisible();
  await expect(a.page.getByRole('row', { name: new RegExp(alice) })).toContainText(/admin/i);
  await a.close();
  const members = await query<{ email: string; role: string; org: string }>(
    `SELECT u.email, m.role::text AS role, o.slug AS org FROM "Membership" m JOIN "User" u ON u.id = m."userId" JOIN "Organization" o ON o.id = m."organizationId" WHERE u.email = $1`,
    [alice],
  );
  expect(members).toEqual([{ email: alice, role: 'admin', org: slug }]);
  const joined = await query<{ action: string }>(`SELECT action FROM "AuditEvent" WHERE "actorLabel" = $1`, [alice]);
  expect(joined.map((e) => e.action)).toEqual(['member.join']);

  // Another domain, through the same provider (started by organisation ID): refused, no account made.
  const mallory = `mallory${suffix}@elsewhere.example.org`;
  const m = await signInThroughIdp(browser, slug, mallory);
  await expect(m.page).toHaveURL(/\/login\/sso\?error=sso_domain_not_allowed/);
  await expect(m.page.getByText('Your email domain is not allowed to join this organisation through single sign-on.')).toBeVisible();
  await m.close();
  expect(await query(`SELECT id FROM "User" WHERE email = $1`, [mallory])).toEqual([]);

  // A wrong client secret: the provider refuses the code exchange, and the page says what to check.
  await page.goto('/app/team');
  await card.getByLabel('Client secret').fill('not-the-secret');
  await card.getByRole('button', { name: 'Save single sign-on' }).click();
  await expect(page.getByText('Single sign-on saved.')).toBeVisible();
  const bob = `bob@${domain}`;
  const b = await signInThroughIdp(browser, bob, bob);
  await expect(b.page).toHaveURL(/\/login\/sso\?error=invalid_code/);
  await expect(b.page.getByText(/wrong client ID or secret/)).toBeVisible();
  await b.close();
  expect(await query(`SELECT id FROM "User" WHERE email = $1`, [bob])).toEqual([]);

  // Changing SSO is an audited organisation change, with the secret never in the log.
  const audit = await query<{ action: string; data: Record<string, unknown> }>(
    `SELECT action, data FROM "AuditEvent" WHERE action LIKE 'sso.%' ORDER BY "createdAt"`,
  );
  expect(audit.map((e) => [e.action, e.data.clientSecret])).toEqual([
    ['sso.update', 'changed'],
    ['sso.update', 'changed'],
  ]);
  expect(JSON.stringify(audit)).not.toContain(idp.clientSecret);
});
