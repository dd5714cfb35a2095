// A Playwright `test` that fails when any page it opened threw an uncaught error
// (what a person would see as a broken page and the console shows as an error):
// the test's own page, and pages of contexts it makes with browser.newContext().
// Every spec imports `test` from here. Its pages retry a load that a network change aborted (below).
import { test as base, expect, type BrowserContext, type Page } from '@playwright/test';

/**
 * Chromium aborts a load in flight when a network link appears on the machine (net::ERR_NETWORK_CHANGED), and
 * `npm test` runs namespace tests that add links beside these specs (on 2026-12-06 once on a verify-email link, once
 * on a page of a context a spec made itself). Such a load is tried again, twice at most; any other failure stays one.
 */
function retryLoadsANetworkChangeAborted(page: Page) {
  const goto = page.goto.bind(page);
  page.goto = async (url, options) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await goto(url, options);
      } catch (err) {
        if (attempt >= 3 || !(err as Error).message.includes('net::ERR_NETWORK_CHANGED')) throw err;
      }
    }
  };
}

export const test = base.extend<{ uncaught: string[] }>({
  uncaught: [
    async ({ context, browser }, use) => {
      const errors: string[] = [];
      // Every page the test opens: the test's own and those of contexts it makes.
      const watchPage = (p: Page) => {
        p.on('pageerror', (err) => errors.push(`${p.url()}: ${err.message}`));
        retryLoadsANetworkChangeAborted(p);
      };
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
