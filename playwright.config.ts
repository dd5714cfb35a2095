// Browser tests in Debian's Chromium (/usr/bin/chromium) against the real panel
// process and a real PostgreSQL database (E2E_DATABASE_URL, which npm test creates fresh).
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './e2e/support/chromium.ts';
import { PANEL_SERVER } from './test/support/panel.ts';

const port = Number(process.env.E2E_PORT ?? 3111);
/** A second panel as README command 1 starts it: embedded database, local lab (when root). */
export const labPort = port + 1;
/**
 * E2E_NO_LAB=1 starts no lab: the specs that use it (`*.lab.spec.ts`) are left out. E2E_LAB_ONLY=1 runs only
 * those, on the lab's panel alone: npm test runs them last, and the PostgreSQL panel, idle then, still cost
 * 78 CPU-seconds in their three minutes (its tickers over every test's organisation; CI run of 2026-12-06).
 */
const withoutLab = process.env.E2E_NO_LAB === '1';
const labOnly = !withoutLab && process.env.E2E_LAB_ONLY === '1';
const databaseUrl = process.env.E2E_DATABASE_URL;
if (!databaseUrl && !labOnly) {
  throw new Error('E2E_DATABASE_URL is not set: run the browser tests through `npm test`, which creates a fresh database for them.');
}

/** The server as `npm start` runs it, compiled again first if a source changed since the build. */
const panelCommand = `node apps/web/scripts/server-bundle.mjs --if-stale && exec node ${PANEL_SERVER}`;

export default defineConfig({
  testDir: 'e2e',
  testIgnore: withoutLab ? ['**/*.lab.spec.ts'] : [],
  ...(labOnly && { testMatch: '**/*.lab.spec.ts' }),
  // Apart for the lab's run: npm test runs the lab specs after the others, and Playwright empties its output
  // directory when it starts, which took the first run's traces of a failure with it.
  outputDir: withoutLab ? 'test-results/e2e' : 'test-results/e2e-lab',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 180_000,
  expect: { timeout: 20_000 },
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    screenshot: 'only-on-failure',
    // A failure keeps its screenshot and its page's accessibility snapshot (error-context.md). E2E_TRACE=1 also
    // keeps its trace (actions, requests, console, DOM snapshots; not the screencast): recording one for every
    // test, kept or not, cost 12-18 % of the CPU of a run of nine specs (2026-12-06): some 50 CPU-seconds of npm test.
    trace: process.env.E2E_TRACE === '1' ? { mode: 'retain-on-failure', screenshots: false } : 'off',
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    },
  },
  webServer: [
    ...(labOnly
      ? []
      : [
          {
            command: panelCommand,
            url: `http://127.0.0.1:${port}/api/health`,
            timeout: 120_000,
            reuseExistingServer: false,
            stdout: 'pipe' as const,
            env: {
              NODE_ENV: 'production',
              NEXT_TELEMETRY_DISABLED: '1',
              // Agents in the lab's network namespaces reach the panel over their management links.
              HOST: '0.0.0.0',
              PORT: String(port),
              TULA_PUBLIC_URL: `http://127.0.0.1:${port}`,
              // Every test signs up from this one address.
              TULA_SIGNUPS_PER_MINUTE: '1000',
              // Failed alert deliveries retried after 0.5 s, 1 s, ... (not 30 s): the delivery log test waits for them.
              TULA_ALERT_RETRY_BASE_MS: '500',
              // No agent build to serve, whatever npm test's other suites build into apps/agent/dist/release
              // meanwhile: e2e/add-node.spec.ts checks what "Add a node" says then.
              TULA_AGENT_RELEASE_DIR: 'test-results/no-agent-release',
              DATABASE_URL: databaseUrl!,
            },
          },
        ]),
    // E2E_NO_LAB=1: only the panel above, for specs that do not use the lab (no network namespaces are built).
    ...(withoutLab
      ? []
      : [
          {
            // README command 1's panel: the embedded database in a fresh data directory, and the local lab.
            command: `rm -rf test-results/lab-panel && ${panelCommand}`,
            // Ready once the lab has settled: building it adds network links, and Chromium aborts
            // page loads in flight when links appear (ERR_NETWORK_CHANGED).
            url: `http://127.0.0.1:${labPort}/api/health?wait=lab`,
            timeout: 240_000,
            reuseExistingServer: false,
            stdout: 'pipe' as const,
            // Ctrl-C, as a person stops it: the lab removes its namespaces on the way out.
            gracefulShutdown: { signal: 'SIGINT' as const, timeout: 30_000 },
            env: {
              NODE_ENV: 'production',
              NEXT_TELEMETRY_DISABLED: '1',
              HOST: '0.0.0.0',
              PORT: String(labPort),
              TULA_PUBLIC_URL: `http://127.0.0.1:${labPort}`,
              DATABASE_URL: '',
              TULA_DATA_DIR: 'test-results/lab-panel',
              TULA_LAB: '1',
              // A lab of its own (namespaces pwlab-*, management links 10.254.201.0/24): npm test runs
              // these specs beside test/lab.test.ts, which builds, crashes and removes the default lab.
              TULA_LAB_PREFIX: process.env.TULA_LAB_PREFIX ?? 'pwlab',
              TULA_LAB_NET: process.env.TULA_LAB_NET ?? '201',
            },
          },
        ]),
  ],
});
