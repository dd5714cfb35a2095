// Browser-test helpers: accounts, mail (read from the test database's outbox
// table: the panel shows the outbox to nobody in a production build),
// screenshots, and an organisation's node, service and members.
import { randomBytes } from 'node:crypto';
import { expect, type Page } from '@playwright/test';
import pg from 'pg';
import { latestMail as outboxMail } from '../../test/support/outbox.ts';

export const SCREENSHOTS = 'test-results/screenshots';
/** Where specs that refresh the README's screenshots write them: TULA_SCREENSHOT_DIR=docs/screenshots does. */
export const SCREENSHOT_DIR = process.env.TULA_SCREENSHOT_DIR ?? SCREENSHOTS;
/** The two screens a check that must hold on both is read on. */
export const LAPTOP_AND_PHONE = [
  { name: 'laptop', width: 1280, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
}

export async function signUp(page: Page, email: string, name = 'Ada Operator', password = 'a long enough password') {
  await page.goto('/signup');
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Start the 14-day free trial' }).click();
  await expect(page).toHaveURL(/\/app\/onboarding/);
}

/** The newest mail to `to` (optionally with a matching subject), and the first link in it. */
export async function latestMail(to: string, subject?: RegExp): Promise<{ text: string; link: string }> {
  const databaseUrl = process.env.E2E_DATABASE_URL;
  if (!databaseUrl) throw new Error('E2E_DATABASE_URL is not set');
  return outboxMail(databaseUrl, to, subject);
}

/** Confirms the signed-up address by following the link mailed at sign-up (needed to invite or accept). */
export async function verifyEmail(page: Page, email: string) {
  const { link } = await latestMail(email, /Confirm your email/);
  await page.goto(link);
  await expect(page).toHaveURL(/\/app/);
}

/** Signs in to the local lab's panel as its demo user, with the password its login page shows. */
export async function signInToLab(page: Page) {
  await page.goto('/login');
  const hint = page.getByTestId('lab-login');
  await expect(hint).toContainText('demo@example.com');
  const password = /password (\S+) to watch/.exec((await hint.textContent()) ?? '')?.[1];
  await page.getByLabel('Email').fill('demo@example.com');
  await page.getByLabel('Password').fill(password!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/app$/);
}

/** A backend's row on the local lab's card (b1, b2, ...). */
export const labBackendRow = (page: Page, name: string) =>
  page
    .getByTestId('lab-controls')
    .getByRole('listitem')
    .filter({ hasText: `${name} ` });

/**
 * Starts a lab backend's server from its row and waits until the row says so. The server is a
 * Node.js process in the backend's namespace; on a loaded machine its start took over 20 s (the
 * lab gives it 30 s before it reports a failure).
 */
export async function startLabServer(page: Page, name: string) {
  await labBackendRow(page, name).getByRole('button', { name: 'Start its server' }).click();
  await expect(labBackendRow(page, name).getByText('serving')).toBeVisible({ timeout: 40_000 });
}

/**
 * Stops a lab backend's server from its row and waits until the row says so: the stop is a
 * request of the page's, which a navigation right after the click cancels (seen in a CI run: the
 * request never reached the panel and the backend kept serving).
 */
export async function stopLabServer(page: Page, name: string) {
  await labBackendRow(page, name).getByRole('button', { name: 'Stop its server' }).click();
  await expect(labBackendRow(page, name).getByText('stopped')).toBeVisible({ timeout: 40_000 });
}

/** The signed-in person's organisation. */
export async function organizationId(page: Page): Promise<string> {
  const summary = await page.request.get('/api/trpc/org.summary', { headers: { origin: new URL(page.url()).origin } });
  return ((await summary.json()) as { result: { data: { json: { id: string } } } }).result.data.json.id;
}

/** Runs statements on the test database (rows the panel has no page to make, such as a node whose agent never connected). */
export async function withTestDatabase<T>(run: (sql: pg.Client) => Promise<T>): Promise<T> {
  const sql = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await sql.connect();
  try {
    return await run(sql);
  } finally {
    await sql.end();
  }
}

/**
 * A node of the signed-in organisation and a service on it, the service made
 * through its form as a person does: the pages of a node, a service and its
 * backends then exist. Returns the node's id and the service page's path.
 */
export async function nodeWithService(
  page: Page,
  s: { node: string; name: string; vip: string; port: string; backend: string; noHealthCheck?: boolean },
): Promise<{ nodeId: string; serviceHref: string }> {
  const orgId = await organizationId(page);
  const nodeId = `e2e${randomBytes(6).toString('hex')}`;
  await withTestDatabase((sql) =>
    sql.query(`INSERT INTO "Node" (id, "organizationId", name, role, "credentialHash") VALUES ($1, $2, $3, 'both', $4)`, [
      nodeId,
      orgId,
      s.node,
      randomBytes(32).toString('hex'),
    ]),
  );
  await page.goto('/app/services/new');
  await page.getByLabel('Name').fill(s.name);
  await page.getByLabel('Virtual IP (VIP)').fill(s.vip);
  await page.getByLabel('Port or range').fill(s.port);
  await page.getByLabel(s.node).check();
  await page.getByLabel('Backend 1 address').fill(s.backend);
  if (s.noHealthCheck) await page.getByRole('group', { name: 'Health check' }).getByLabel('Type').selectOption('none');
  await page.getByRole('button', { name: 'Create service' }).click();
  await expect(page).toHaveURL(/\/app\/services\/(?!new$)[^/]+$/);
  return { nodeId, serviceHref: new URL(page.url()).pathname };
}

/** Another member of the signed-in organisation (an account that never signs in here), so the owner's member controls show. */
export async function addMember(page: Page, name: string, role: 'owner' | 'admin' | 'viewer'): Promise<string> {
  const orgId = await organizationId(page);
  const email = uniqueEmail('member');
  const userId = `e2e${randomBytes(6).toString('hex')}`;
  await withTestDatabase(async (sql) => {
    await sql.query(`INSERT INTO "User" (id, name, email, "emailVerified", "updatedAt") VALUES ($1, $2, $3, true, now())`, [
      userId,
      name,
      email,
    ]);
    await sql.query(`INSERT INTO "Membership" (id, "organizationId", "userId", role) VALUES ($1, $2, $3, $4)`, [
      `e2e${randomBytes(6).toString('hex')}`,
      orgId,
      userId,
      role,
    ]);
  });
  return email;
}
