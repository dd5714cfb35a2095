// "Nothing in the panel changes an organisation outside our API and its audit
// log", checked structurally: every route better-auth serves is listed here,
// so a plugin that adds routes (the organization plugin, @better-auth/sso's
// provider registration, admin) fails this test until someone has looked at
// what its routes change. None of the allowed routes writes an organisation,
// a membership or an invitation, except the SSO callback, which joins
// through sso.ts (tenant client, audited). The HTTP side (404 from a running
// panel) is in access-limits.test.ts.
import { createAuth, createMailer } from '@tula/api';
import { openDatabase, readDatabaseEnv, type Database } from '@tula/db';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';

let tdb: TestDatabase;
let db: Database;
beforeAll(async () => {
  tdb = await createTestDatabase();
  db = await openDatabase({ env: readDatabaseEnv({ DATABASE_URL: tdb.url }), migrate: true });
});
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
});

it('serves only the reviewed better-auth routes that change anything', () => {
  const auth = createAuth({
    db,
    mailer: createMailer(db, undefined, 'tula@example.com'),
    rateLimits: { signUpPerMinute: 5, signInPerMinute: 5 },
    clientAddressHeader: 'x-tula-client-address',
    baseURL: 'http://127.0.0.1:1',
    secret: 's'.repeat(40),
    secureCookies: false,
  });
  const mutating = Object.values(auth.api as Record<string, { path?: string; options?: { method?: string | string[] } }>)
    .filter((e) => e.path && [e.options?.method ?? []].flat().some((m) => m !== 'GET'))
    .map((e) => e.path!)
    .sort();
  expect(mutating.filter((p) => /organi[sz]ation|member|invit|team|sso|admin|provider/i.test(p))).toEqual([]);
  expect(mutating).toEqual(
    [
      '/callback/:id',
      '/change-email',
      '/change-password',
      '/delete-user',
      '/link-social',
      '/refresh-token',
      '/request-password-reset',
      '/reset-password',
      '/revoke-other-sessions',
      '/revoke-session',
      '/revoke-sessions',
      '/send-verification-email',
      '/sign-in/email',
      '/sign-in/social',
      '/sign-out',
      '/sign-up/email',
      '/unlink-account',
      '/update-session',
      '/update-user',
      '/get-access-token',
      // Read-only, but better-auth also answers them on POST.
      '/get-session',
      '/verify-password',
    ].sort(),
  );
});
