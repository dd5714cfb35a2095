// API tokens: `Authorization: Bearer tula_...` on the tRPC and HTTP APIs. The
// token is random, shown once, and stored as its sha256 (the credential helpers
// of @tula/control); a request finds its row by that hash.
import { sha256 } from '@tula/control';
import type { Database } from '@tula/db';

export const API_TOKEN_PREFIX = 'tula';
/** Last use is written at most this often per token (and per session): a write per API call would be a write per request. */
export const LAST_USE_RESOLUTION_MS = 60_000;

export interface ApiTokenIdentity {
  token: { id: string; name: string; prefix: string };
  org: { id: string; role: 'admin' | 'viewer'; trialEndsAt: Date };
}

/** The bearer token of a request, if it carries one of ours. */
export function bearerApiToken(headers: Headers): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.get('authorization') ?? '');
  return m && m[1]!.startsWith(`${API_TOKEN_PREFIX}_`) ? m[1] : undefined;
}

/** Who the token acts as, or why it is refused (said plainly: the caller owns the token). */
export async function authenticateApiToken(db: Database, token: string, now = new Date()): Promise<ApiTokenIdentity | { problem: string }> {
  const row = await db.prisma.apiToken.findUnique({
    where: { tokenHash: sha256(token) },
    include: { organization: { select: { trialEndsAt: true } } },
  });
  if (!row) return { problem: 'This API token is not valid; create a new one under Team, API tokens.' };
  if (row.revokedAt) return { problem: 'This API token was revoked; create a new one under Team, API tokens.' };
  if (row.expiresAt && row.expiresAt <= now) return { problem: 'This API token has expired; create a new one under Team, API tokens.' };
  await db.prisma.apiToken.updateMany({
    where: { id: row.id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now.getTime() - LAST_USE_RESOLUTION_MS) } }] },
    data: { lastUsedAt: now },
  });
  return {
    token: { id: row.id, name: row.name, prefix: row.prefix },
    org: { id: row.organizationId, role: row.role, trialEndsAt: row.organization.trialEndsAt },
  };
}
