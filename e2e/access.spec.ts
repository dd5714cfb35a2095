// Forms refuse bad input; viewers cannot change anything; one organisation
// never sees another's; a forgotten password can be reset by mail.
import { expect, test } from './support/no-uncaught.ts';
import { latestMail, SCREENSHOTS, signUp, uniqueEmail, verifyEmail } from './support/app.ts';

test('the sign-up form cannot be used before its script is there, and works once it is', async ({ page }) => {
  // The page's scripts held back, as on a slow link: the HTML is there, its handlers are not. Filled and sent
  // then, a form lost what was typed and the browser's own submission reloaded it (a sign-up in npm test ended on
  // an empty form).
  let releaseScripts!: () => void;
  const scriptsHeld = new Promise<void>((resolve) => (releaseScripts = resolve));
  await page.route('**/_next/static/**', async (route) => {
    // Scripts only: the stylesheets sit beside them and hold the page's first paint.
    if (route.request().resourceType() === 'script') await scriptsHeld;
    await route.continue();
  });
  await page.goto('/signup', { waitUntil: 'commit' });
  const name = page.getByLabel('Your name');
  const send = page.getByRole('button', { name: 'Start the 14-day free trial' });
  await expect(name).toBeVisible();
  await expect(name).toBeDisabled();
  await expect(send).toBeDisabled();
  releaseScripts();
  await expect(name).toBeEnabled();
  await name.fill('Ada Operator');
  await page.getByLabel('Work email').fill(uniqueEmail('before-script'));
  await page.getByLabel('Password').fill('a long enough password');
  await send.click();
  await expect(page).toHaveURL(/\/app\/onboarding/);
});

test('invalid service input shows errors as you type and saves nothing', async ({ page }) => {
  await signUp(page, uniqueEmail('form'));
  await page.goto('/app/services/new');
  await page.getByLabel('Name').fill('bad name!');
  await page.getByLabel('Name').blur();
  await expect(page.getByText('must be 1-63 letters, digits')).toBeVisible();
  await page.getByLabel('Virtual IP (VIP)').fill('10.0.0.300');
  await page.getByLabel('Virtual IP (VIP)').blur();
  await expect(page.getByText('must be an IPv4 or IPv6 address').first()).toBeVisible();
  await page.getByLabel('Port or range').fill('90000');
  await page.getByRole('button', { name: 'Create service' }).click();
  await expect(page.getByText('Fix the highlighted fields to save.')).toBeVisible();
  // Focus lands on the first problem, for keyboard users.
  await expect(page.getByLabel('Name')).toBeFocused();
  await expect(page.getByLabel('Name')).toHaveAttribute('aria-invalid', 'true');
  await page.screenshot({ path: `${SCREENSHOTS}/service-form-errors.png`, fullPage: true });
  await page.goto('/app/services');
  await expect(page.getByText('No services yet')).toBeVisible();
});

test('a NAT service may send to another port, and reads as "not DSR" in the list and on its page', async ({ page }) => {
  await signUp(page, uniqueEmail('nat'));
  await page.goto('/app/services/new');
  await page.getByLabel('Name').fill('legacy');
  await page.getByLabel('Virtual IP (VIP)').fill('10.40.0.1');
  await page.getByLabel('Port or range').fill('80');
  await expect(page.getByLabel('Backend 1 port')).toHaveCount(0);
  await page.getByLabel('Mode').selectOption('nat');
  await page.getByLabel('Backend 1 address').fill('10.40.0.11');
  await page.getByLabel('Backend 1 port').fill('8080');
  // No node is enrolled in this organisation: without a balancer it can only be a draft.
  await page.getByRole('button', { name: 'Create service' }).click();
  await expect(page.getByText('choose at least one balancer node, or save it as a draft')).toBeVisible();
  await page.getByLabel('Save as a draft').check();
  await page.getByRole('button', { name: 'Create service' }).click();
  await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
  await expect(page.getByText('NAT (not DSR)')).toBeVisible();
  await expect(page.getByText('10.40.0.11:8080')).toBeVisible();
  await page.goto('/app/services');
  await expect(page.getByText('NAT · not DSR')).toBeVisible();
});

test('a viewer can look but not change, and the API refuses their changes', async ({ page, browser }) => {
  const ownerEmail = uniqueEmail('owner');
  await signUp(page, ownerEmail);
  await verifyEmail(page, ownerEmail);
  const viewerEmail = uniqueEmail('viewer');
  await page.goto('/app/team');
  await page.getByLabel('Email', { exact: true }).fill(viewerEmail);
  await page.getByLabel('Role', { exact: true }).selectOption('viewer');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  // No mail server in the tests: the panel says where the invitation is instead of promising mail.
  await expect(page.getByText(`Invitation for ${viewerEmail} kept in the outbox below`)).toBeVisible();
  const { link } = await latestMail(viewerEmail, /invited you/);

  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await signUp(viewer, viewerEmail, 'Vera Viewer');
  await verifyEmail(viewer, viewerEmail);
  await viewer.goto(new URL(link).pathname);
  await viewer.getByRole('button', { name: 'Accept the invitation' }).click();
  await expect(viewer).toHaveURL(/\/app$/);
  await expect(viewer.getByRole('status').filter({ hasText: 'You are a viewer' })).toBeVisible();
  await viewer.goto('/app/services');
  await expect(viewer.getByRole('heading', { name: 'Services', exact: true })).toBeVisible();
  await expect(viewer.getByRole('link', { name: 'New service' })).toHaveCount(0);
  await viewer.goto('/app/fleet');
  await expect(viewer.getByRole('button', { name: 'Add a node' })).toHaveCount(0);
  // Straight to the API: refused.
  const res = await viewer.request.post('/api/trpc/tokens.create', { data: { json: {} }, headers: { 'content-type': 'application/json' } });
  expect(res.status()).toBe(403);
  expect(await res.text()).toContain('Viewers cannot change anything');
  await viewerContext.close();
});

test('organisation A cannot see organisation B, not in lists and not by direct URL', async ({ page, browser }) => {
  await signUp(page, uniqueEmail('org-a'));
  await page.goto('/app/services/new');
  await page.getByLabel('Name').fill('secret-service');
  await page.getByLabel('Virtual IP (VIP)').fill('192.0.2.10');
  await page.getByLabel('Backend 1 address').fill('192.0.2.11');
  await page.getByLabel('Save as a draft').check();
  await page.getByRole('button', { name: 'Create service' }).click();
  await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
  const serviceUrl = new URL(page.url()).pathname;

  const other = await browser.newContext();
  const b = await other.newPage();
  await signUp(b, uniqueEmail('org-b'));
  await b.goto('/app/services');
  await expect(b.getByText('No services yet')).toBeVisible();
  await expect(b.getByText('secret-service')).toHaveCount(0);
  await b.goto(serviceUrl);
  await expect(b.getByText('No such service in this organisation')).toBeVisible();
  await expect(b.getByText('192.0.2.10')).toHaveCount(0);
  await b.goto('/app/audit');
  await expect(b.getByText('secret-service')).toHaveCount(0);
  await other.close();
});

test('a forgotten password is reset through the mailed link', async ({ page }) => {
  const email = uniqueEmail('reset');
  await signUp(page, email);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/forgot-password');
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Send me a reset link' }).click();
  // No mail server in the tests: the page says the link is kept for an owner, not that mail is on its way.
  await expect(page.getByRole('status')).toContainText('This panel has no mail server, so no mail is sent');
  await expect(page.getByRole('status')).toContainText('Team → Outbox');
  const { link } = await latestMail(email, /Reset your Tula password/);
  await page.goto(link);
  await expect(page).toHaveURL(/\/reset-password\?token=/);
  await page.getByLabel('New password').fill('an entirely new password');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await expect(page).toHaveURL(/\/login\?reset=1/);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill('an entirely new password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/app/);
});

test('pages carry security headers', async ({ request }) => {
  const res = await request.get('/login');
  const h = res.headers();
  expect(h['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(h['x-content-type-options']).toBe('nosniff');
});

test('after the trial the panel is read-only, and says so', async ({ page }) => {
  const email = uniqueEmail('expired');
  await signUp(page, email);
  const pg = await import('pg');
  const sql = new pg.default.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await sql.connect();
  await sql.query(
    `UPDATE "Organization" SET "trialEndsAt" = now() - interval '1 minute'
      WHERE id = (SELECT m."organizationId" FROM "Membership" m JOIN "User" u ON u.id = m."userId" WHERE u.email = $1)`,
    [email],
  );
  await sql.end();
  await page.goto('/app/services');
  await expect(page.getByText('The free trial has ended: the panel is read-only.')).toBeVisible();
  await expect(page.getByRole('link', { name: 'New service' })).toHaveCount(0);
  const res = await page.request.post('/api/trpc/tokens.create', { data: { json: {} }, headers: { 'content-type': 'application/json' } });
  expect(res.status()).toBe(403);
  expect(await res.text()).toContain('keep forwarding with their last state');
});
