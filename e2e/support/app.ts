// Browser-test helpers: accounts, mail (read from the test database's outbox
// table: the panel shows the outbox to nobody in a production build), screenshots.
import { expect, type Page } from '@playwright/test';
import { latestMail as outboxMail } from '../../test/support/outbox.ts';

export const SCREENSHOTS = 'test-results/screenshots';

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
