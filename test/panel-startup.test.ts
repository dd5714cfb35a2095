// What the production panel prints when it starts (README command 1 runs it
// this way): its own lines (the database, mail, where it listens) and nothing
// untrue. Next's custom-server warning that `"next start" does not work with
// "output: standalone"` was false for it (server.ts is not `next start`, and
// serves the ordinary build) and advised a command that would run the panel
// without its database, gateway and lab. And a panel whose log pipe closes goes
// on serving, and stops on SIGTERM.
import { request } from 'node:http';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signUp } from './support/control.ts';
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

/** A sign-in as a browser at `origin` sends it, with a cookie of an earlier visit (better-auth checks the Origin of requests that carry cookies). */
function signInFrom(url: string, origin: string, email: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = request(
      `${url}/api/auth/sign-in/email`,
      { method: 'POST', headers: { 'content-type': 'application/json', origin, cookie: 'tula-earlier-visit=1' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${res.statusCode === 200 ? '' : text}`));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ email, password: 'a long enough password' }));
  });
}

it('started as README command 1 starts it (no TULA_PUBLIC_URL), takes sign-ins at 127.0.0.1 as at localhost, and none from another site', async () => {
  await panel?.stop();
  // The test runner's TEST=true reaches the panel as it would reach one started from a CI job's shell.
  panel = await startPanel({ DATABASE_URL: tdb.url, TULA_LAB: '0', TULA_PUBLIC_URL: undefined });
  const email = `loopback-${Date.now()}@example.com`;
  await signUp(panel.url.replace('127.0.0.1', 'localhost'), email);
  expect(await signInFrom(panel.url, panel.url, email)).toBe('200 ');
  expect(await signInFrom(panel.url, `http://[::1]:${panel.port}`, email)).toBe('200 ');
  expect(await signInFrom(panel.url, 'https://elsewhere.example', email)).toBe('403 {"message":"Invalid origin","code":"INVALID_ORIGIN"}');
});

it('goes on serving when whatever reads its log goes away, and stops on SIGTERM', async () => {
  await panel?.stop();
  panel = await startPanel({ DATABASE_URL: tdb.url, TULA_LAB: '0' });
  const { child, url } = panel;
  try {
    // The reader goes (as a log shipper that restarted, or a parent that died): the panel's next line meets a closed pipe.
    child.stdout!.destroy();
    child.stderr!.destroy();
    // Something to log: its database connections cut under it (the pool reports each).
    const admin = new pg.Client({ connectionString: tdb.url });
    await admin.connect();
    try {
      const cut = await admin.query<{ n: number }>(
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      expect(cut.rows[0]!.n).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    // It answered nothing more, spinning on its own EPIPE errors, before it ignored a failing log.
    let health = '';
    for (const deadline = Date.now() + 30_000; health !== '200' && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 1000));
      health = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(5000) }).then(
        (r) => String(r.status),
        (err: Error) => err.message,
      );
    }
    expect(health).toBe('200');
    const exit = await Promise.race([
      panel.stop('SIGTERM'),
      new Promise<string>((r) => setTimeout(() => r('still running 30 s after SIGTERM'), 30_000)),
    ]);
    expect(exit).toBe(0);
  } finally {
    // Not left behind when it failed: one that ignores SIGTERM is killed.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    panel = undefined;
  }
}, 120_000);
