// BGP peer passwords (TCP MD5 keys) are sealed in the database like SSO and
// webhook secrets: the node's settings and its compiled document hold only the
// sealed form, so a database dump alone reveals none. The compiler carries the
// sealed form through (the same stored value compiles to the same document and
// hash); the agent gateway opens it when it sends a document to its agent,
// which needs the key to configure bird.
import type { Database } from '@tula/db';
import { DbNull } from '@tula/db/json';
import { lockOrganization } from '@tula/db/locks';
import { recompileOrganization } from './recompile.ts';
import { secretBox, type SecretBox } from './secrets.ts';

/** The key BGP peer passwords are sealed under, derived from the panel's auth secret. */
export const bgpPasswordBox = (authSecret: string): SecretBox => secretBox(authSecret, 'bgp peer passwords');

/** Where the protocol schema checks a document holding sealed passwords, they stand in as this (each was checked when saved). */
export const SEALED_PASSWORD_STANDIN = 'sealed';

const SEALED = /^v1\.[\w-]+\.[\w-]+\.[\w-]*$/;
/** Whether a stored password is in sealed form (a password saved before sealing is plain text until saved again). */
export const isSealed = (value: string): boolean => SEALED.test(value);

type PeerLike = { password?: unknown } & Record<string, unknown>;
type AnnounceLike = { bgp?: { peers?: PeerLike[] } & Record<string, unknown> } & Record<string, unknown>;

/** A copy of announcement settings (as stored, any shape) with each peer's password passed through `map`. */
export function mapPeerPasswords<T>(announce: T, map: (password: string, index: number) => string): T {
  const a = announce as AnnounceLike | null | undefined;
  if (!a || typeof a !== 'object' || !a.bgp || !Array.isArray(a.bgp.peers)) return announce;
  return {
    ...a,
    bgp: { ...a.bgp, peers: a.bgp.peers.map((p, i) => (typeof p.password === 'string' ? { ...p, password: map(p.password, i) } : p)) },
  } as T;
}

/** The stored passwords of announcement settings, by peer position (undefined where a peer has none). */
export function storedPeerPasswords(announce: unknown): (string | undefined)[] {
  const a = announce as AnnounceLike | null | undefined;
  if (!a || typeof a !== 'object' || !a.bgp || !Array.isArray(a.bgp.peers)) return [];
  return a.bgp.peers.map((p) => (typeof p.password === 'string' ? p.password : undefined));
}

/**
 * A document as its agent gets it: the sealed peer passwords of its balancer
 * section opened. A password stored before sealing passes as it is. Throws when
 * a sealed one does not open (the auth secret changed): sending the sealed form
 * would configure bird with a wrong key.
 */
export function openDocumentPasswords<T>(state: T, box: SecretBox): T {
  const s = state as { balancer?: { announce?: unknown } & Record<string, unknown> } & Record<string, unknown>;
  if (!s?.balancer?.announce) return state;
  const announce = mapPeerPasswords(s.balancer.announce, (p) => (isSealed(p) ? box.open(p) : p));
  return { ...s, balancer: { ...s.balancer, announce } } as T;
}

/**
 * Seals the peer passwords stored before sealing existed (plain text in a
 * node's settings and its compiled document), once, when the panel starts:
 * each organisation in one transaction under its lock, recompiled so its
 * documents carry the sealed form. Returns the nodes changed and their
 * organisations, for the caller to tell the gateways.
 */
export async function sealStoredPeerPasswords(db: Database, box: SecretBox): Promise<{ organizationId: string; nodeIds: string[] }[]> {
  const rows = await db.prisma.node.findMany({ where: { announce: { not: DbNull } }, select: { organizationId: true } });
  const out: { organizationId: string; nodeIds: string[] }[] = [];
  for (const organizationId of [...new Set(rows.map((r) => r.organizationId))]) {
    const changed = await db.prisma.$transaction(async (tx) => {
      await tx.$executeRaw(lockOrganization(organizationId));
      const nodes = await tx.node.findMany({ where: { organizationId, announce: { not: DbNull } }, select: { id: true, announce: true } });
      let sealed = 0;
      for (const n of nodes) {
        if (!storedPeerPasswords(n.announce).some((p) => p !== undefined && !isSealed(p))) continue;
        const announce = mapPeerPasswords(n.announce, (p) => (isSealed(p) ? p : box.seal(p)));
        await tx.node.update({ where: { id: n.id }, data: { announce: announce as object } });
        sealed++;
      }
      return sealed > 0 ? recompileOrganization(tx, organizationId) : [];
    });
    if (changed.length > 0) out.push({ organizationId, nodeIds: changed });
  }
  return out;
}
