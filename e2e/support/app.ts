// Browser-test helpers: accounts, the development outbox, screenshots.
import { expect, type Page } from '@playwright/test';

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

/** The newest mail to `to` in the development outbox, and the first link in it. */
export async function latestMail(page: Page, to: string): Promise<{ text: string; link: string }> {
  await page.goto('/dev/outbox');
  const mail = page.getByTestId('outbox-mail').filter({ hasText: to }).first();
  await expect(mail).toBeVisible();
  const text = (await mail.textContent()) ?? '';
  const link = /https?:\/\/\S+/.exec(text)?.[0];
  if (!link) throw new Error(`no link in the mail to ${to}: ${text}`);
  return { text, link };
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
