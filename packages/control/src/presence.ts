// When a node counts as online: its agent is connected to a panel replica, and
// that replica recorded it within ONLINE_WINDOW_MS. The replica holding the
// connection marks the node offline the moment the socket closes, and closes a
// socket whose agent was silent for 7 s (pings go every 2 s), so a stopped agent
// or a lost link shows offline within 10 s. The window is only the fallback for
// a replica that died without saying so; a slow database write cannot make a
// live node look offline.
export const ONLINE_WINDOW_MS = 30_000;

export function isOnline(n: { connected: boolean; lastSeenAt: Date | null; revokedAt: Date | null }, now = Date.now()): boolean {
  return !n.revokedAt && n.connected && n.lastSeenAt !== null && now - n.lastSeenAt.getTime() < ONLINE_WINDOW_MS;
}

/** The same rule as a Prisma filter, for counting and paging in SQL. */
export function onlineWhere(now = Date.now()) {
  return { revokedAt: null, connected: true, lastSeenAt: { gte: new Date(now - ONLINE_WINDOW_MS) } };
}
