// Browser tests in Debian's Chromium (/usr/bin/chromium) against the real panel
// process and a real PostgreSQL database (E2E_DATABASE_URL, which npm test creates fresh).
import { defineConfig } from '@playwright/test';

const port = Number(process.env.E2E_PORT ?? 3111);
/** A second panel as README command 1 starts it: embedded database, local lab (when root). */
export const labPort = port + 1;
const databaseUrl = process.env.E2E_DATABASE_URL;
if (!databaseUrl) {
  throw new Error('E2E_DATABASE_URL is not set: run the browser tests through `npm test`, which creates a fresh database for them.');
}

export default defineConfig({
  testDir: 'e2e',
  outputDir: 'test-results/e2e',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  webServer: [
    {
      command: 'node --import tsx apps/web/server.ts',
      url: `http://127.0.0.1:${port}/api/health`,
      timeout: 120_000,
      reuseExistingServer: false,
      stdout: 'pipe',
      env: {
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        // Agents in the lab's network namespaces reach the panel over their management links.
        HOST: '0.0.0.0',
        PORT: String(port),
        TULA_PUBLIC_URL: `http://127.0.0.1:${port}`,
        // Every test signs up from this one address.
        TULA_SIGNUPS_PER_MINUTE: '1000',
        DATABASE_URL: databaseUrl,
      },
    },
    {
      // README command 1's panel: the embedded database in a fresh data directory, and the local lab.
      command: 'rm -rf test-results/lab-panel && exec node --import tsx apps/web/server.ts',
      // Ready once the lab has settled: building it adds network links, and Chromium aborts
      // page loads in flight when links appear (ERR_NETWORK_CHANGED).
      url: `http://127.0.0.1:${labPort}/api/health?wait=lab`,
      timeout: 240_000,
      reuseExistingServer: false,
      stdout: 'pipe',
      // Ctrl-C, as a person stops it: the lab removes its namespaces on the way out.
      gracefulShutdown: { signal: 'SIGINT', timeout: 30_000 },
      env: {
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        HOST: '0.0.0.0',
        PORT: String(labPort),
        TULA_PUBLIC_URL: `http://127.0.0.1:${labPort}`,
        DATABASE_URL: '',
        TULA_DATA_DIR: 'test-results/lab-panel',
        TULA_LAB: '1',
      },
    },
  ],
});
