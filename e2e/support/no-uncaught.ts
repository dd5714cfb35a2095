// A Playwright `test` that fails when any page it opened threw an uncaught error
// (what a person would see as a broken page and the console shows as an error):
// the test's own page, and pages of contexts it makes with browser.newContext().
// Every spec imports `test` from here.
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';

export const test = base.extend<{ uncaught: string[] }>({
  uncaught: [
    async ({ context, browser }, use) => {
      const errors: string[] = [];
      const watchPage = (p: Page) => p.on('pageerror', (err) => errors.push(`${p.url()}: ${err.message}`));
      const watchContext = (c: BrowserContext) => {
        c.pages().forEach(watchPage);
        c.on('page', watchPage);
      };
      watchContext(context);
      const newContext = browser.newContext.bind(browser);
      browser.newContext = async (...args) => {
        const c = await newContext(...args);
        watchContext(c);
        return c;
      };
      try {
        await use(errors);
      } finally {
        browser.newContext = newContext;
      }
      expect(errors, 'uncaught errors in the browser').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };
