// A Playwright `test` that fails when a page it opened threw an uncaught error
// (what a person would see as a broken page and the console shows as an error).
import { test as base, expect } from '@playwright/test';

export const test = base.extend<{ uncaught: string[] }>({
  uncaught: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`));
      await use(errors);
      expect(errors, 'uncaught errors in the browser').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };
