// How the browser tests start Debian's Chromium: playwright.config.ts and the
// vitest test that drives Chromium itself (test/live-browser-lab.test.ts).
// Debian's headless shell (package chromium-headless-shell): the same Blink as /usr/bin/chromium without the
// browser's own UI process work, as Playwright runs headless Chromium by default. On 2026-12-06 nine specs cost
// Chromium 64 CPU-seconds under /usr/bin/chromium and 46 under the shell, on a 2-core machine that npm test keeps busy.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium-headless-shell';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
