// What the production panel prints when it starts (README command 1 runs it
// this way): its own lines (the database, mail, where it listens) and nothing
// untrue. Next's custom-server warning that `"next start" does not work with
// "output: standalone"` was false for it (server.ts is not `next start`, and
// serves the ordinary build) and advised a command that would run the panel
// without its database, gateway and lab.
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPanel, type PanelProcess } from './support/panel.ts';

let tdb: TestDatabase;
let panel: PanelProcess | undefined;
beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterAll(async () => {
  await panel?.stop();
  await tdb?.drop();
});

it('prints its own start-up lines only, none of them a warning about how it was started', async () => {
  panel = await startPanel({ DATABASE_URL: tdb.url, TULA_LAB: '0', TULA_SMTP_URL: undefined });
  // A page served too: Next has loaded its configuration and the build by then.
  expect((await fetch(`${panel.url}/login`)).status).toBe(200);
  const lines = panel
    .output()
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  expect(lines.filter((l) => /next start|standalone/i.test(l))).toEqual([]);
  // Ours, and Next's own note of reading its configuration (as `next start` prints it), nothing else.
  expect(lines.map((l) => (/^✓ Running next\.config\.ts took \d/.test(l) ? 'next' : l.split(/[ :]/)[0]))).toEqual([
    'database',
    'mail',
    'next',
    'Tula',
  ]);
  expect(lines[1]).toMatch(/^mail: not sent \(no TULA_SMTP_URL\); invitations and password resets are kept in the panel/);
  expect(lines[3]).toBe(
    `Tula control panel on http://localhost:${panel.port} (production); agents connect to ws://127.0.0.1:${panel.port}/agent`,
  );
});
