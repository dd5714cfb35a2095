// When a node counts as online: its agent is connected to a panel replica and
// was heard from within ONLINE_WINDOW_MS. The gateway pings every agent every
// 2 s and records each answer, so a live agent is a few seconds behind at most;
// one that stopped answering (a lost link) is offline within the window, and a
// closed connection is offline at once.
export const ONLINE_WINDOW_MS = 9_000;

export function isOnline(n: { connected: boolean; lastSeenAt: Date | null; revokedAt: Date | null }, now = Date.now()): boolean {
  return !n.revokedAt && n.connected && n.lastSeenAt !== null && now - n.lastSeenAt.getTime() < ONLINE_WINDOW_MS;
}

/** The same rule as a Prisma filter, for counting and paging in SQL. */
export function onlineWhere(now = Date.now()) {
  return { revokedAt: null, connected: true, lastSeenAt: { gte: new Date(now - ONLINE_WINDOW_MS) } };
}
