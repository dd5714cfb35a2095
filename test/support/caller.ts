// The API's procedures called in-process, as a signed-in member of a fresh
// organisation, on a real PostgreSQL database migrated like the panel's. For
// tests of procedures that need no HTTP (no cookies, no agents).
import { randomBytes } from 'node:crypto';
import { createCaller, webhookSecretBox, type PanelServices, type Role } from '@tula/api';
import { bgpPasswordBox, DEFAULT_TRIAL_LIMITS, LocalBus, SharedLimiter } from '@tula/control';
import { openDatabase, type Database } from '@tula/db';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll } from 'vitest';

export type Caller = ReturnType<typeof createCaller>;
/** The auth secret the callers' secrets are sealed under (tests open them with it). */
export const TEST_AUTH_SECRET = 'test secret for sealing, not for signing in';

export async function openTestApi(url: string): Promise<Database> {
  return openDatabase({ env: { DATABASE_URL: url, TULA_DATA_DIR: '.tula', DATABASE_POOL_SIZE: 4 }, migrate: true });
}

/**
 * A fresh PostgreSQL database migrated like the panel's, created before the file's
 * tests and dropped after: registers the hooks; `db` is set once beforeAll has run.
 */
export function useTestApiDatabase(): { readonly db: Database } {
  let tdb: TestDatabase | undefined;
  let db: Database | undefined;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = await openTestApi(tdb.url);
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error('the test database is opened in beforeAll');
      return db;
    },
  };
}

/** A new user in a new organisation, and the API as that user; `join` adds the user to an existing organisation instead. */
export async function memberCaller(
  db: Database,
  options: {
    name: string;
    role?: Role;
    join?: string;
    /** Panel services to use instead of the defaults (a shared bus, live counters). */ services?: Partial<PanelServices>;
    /** Ends the caller's subscriptions. */ signal?: AbortSignal;
  },
): Promise<{ api: Caller; userId: string; organizationId: string; email: string }> {
  const tag = randomBytes(4).toString('hex');
  const email = `${options.name.toLowerCase().replace(/\W+/g, '.')}-${tag}@example.com`;
  const user = await db.prisma.user.create({ data: { name: options.name, email } });
  const organizationId = options.join ?? (await db.prisma.organization.create({ data: { name: `org ${tag}`, slug: `org-${tag}` } })).id;
  const role = options.role ?? 'owner';
  await db.prisma.membership.create({ data: { organizationId, userId: user.id, role } });
  const api = createCaller(
    {
      db,
      bus: new LocalBus(),
      // Not used by the procedures these tests call (they need no session).
      auth: undefined as never,
      mailer: undefined as never,
      limits: DEFAULT_TRIAL_LIMITS,
      inviteAttempts: new SharedLimiter(db, 'invite', 20, 3600),
      startedAt: new Date(),
      publicUrl: 'http://127.0.0.1:1',
      secrets: webhookSecretBox(TEST_AUTH_SECRET),
      peerPasswords: bgpPasswordBox(TEST_AUTH_SECRET),
      ...options.services,
      user: { id: user.id, email, name: options.name },
      org: { id: organizationId, role, trialEndsAt: new Date(Date.now() + 86_400_000) },
    },
    options.signal ? { signal: options.signal } : undefined,
  );
  return { api, userId: user.id, organizationId, email };
}

/** A balancer node row (no agent: these tests look at documents, not deliveries). */
export async function balancerNode(db: Database, organizationId: string, name: string, address: string) {
  return db.prisma.node.create({
    data: { organizationId, name, role: 'balancer', credentialHash: randomBytes(16).toString('hex'), addresses: [address] },
  });
}

/**
 * What the gateway keeps from a balancer's status report: the document it was last given applied,
 * these backends of the service `web` failing (none by default), reported at `at` (now by default).
 * `online` (the default): its link is alive now; offline, the report was its last sign of life.
 */
export async function reportStatus(db: Database, nodeId: string, o: { failing?: string[]; at?: Date; online?: boolean } = {}) {
  const { at = new Date(), online = true, failing = [] } = o;
  const { desiredHash } = await db.prisma.node.findUniqueOrThrow({ where: { id: nodeId }, select: { desiredHash: true } });
  await db.prisma.node.update({
    where: { id: nodeId },
    data: {
      connected: online,
      lastSeenAt: online ? new Date() : at,
      statusAt: at,
      appliedHash: desiredHash,
      failingBackends: failing.map((address) => ({ service: 'web', address, since: Date.now(), error: 'connection refused' })),
    },
  });
}
