import { DbNull } from '@tula/db/json';
import { Announcement, BgpAnnouncement, BgpPeer } from '@tula/protocol';
import { CompileError, isSealed, mapPeerPasswords, SEALED_PASSWORD_STANDIN, storedPeerPasswords } from '@tula/control';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

/** A peer as the form sends it: the stored password stays when `keepPassword` is set and no new one is given. */
const PeerInput = BgpPeer.extend({ keepPassword: z.boolean().optional() });
export const AnnounceInput = z.strictObject({
  id: z.string().min(1).max(64),
  /** null: the node announces nothing. */
  announce: Announcement.extend({
    bgp: BgpAnnouncement.extend({ peers: z.array(PeerInput).min(1, 'give at least one peer').max(64) }).optional(),
  }).nullable(),
});

/** Sets how a balancer announces its VIPs (BGP peers, VRRP); the compiler puts it in the node's document. */
export const setAnnounce = writeProcedure.input(AnnounceInput).mutation(async ({ ctx, input }) => {
  try {
    return await change(
      ctx,
      (r: { summary: Record<string, unknown> }) => ({
        action: 'node.set_announce',
        targetType: 'node',
        targetId: input.id,
        data: r.summary,
      }),
      async (tx) => {
        const node = await tx.node.findFirst({
          where: { id: input.id, organizationId: ctx.org.id },
          select: { announce: true, role: true },
        });
        if (!node) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such node in this organisation.' });
        if (input.announce && node.role === 'backend')
          throw new TRPCError({
            code: 'PRECONDITION_FAILED',
            message: 'This node has the backend role only; give it the balancer role first.',
          });
        // The stored passwords are sealed (a longer text than the schema's 80 characters): read them by peer address.
        const before = Announcement.safeParse(mapPeerPasswords(node.announce, () => SEALED_PASSWORD_STANDIN));
        const stored = storedPeerPasswords(node.announce);
        const oldPeers = before.success ? (before.data.bgp?.peers ?? []).map((p, i) => ({ address: p.address, password: stored[i] })) : [];
        const announce = input.announce && {
          ...input.announce,
          ...(input.announce.bgp && {
            bgp: {
              ...input.announce.bgp,
              peers: input.announce.bgp.peers.map(({ keepPassword, ...p }) => {
                const kept = keepPassword && p.password === undefined ? oldPeers.find((o) => o.address === p.address)?.password : undefined;
                // A new password is sealed before it is stored; a kept one stays as stored (one saved before sealing existed is sealed now).
                if (kept !== undefined) return { ...p, password: isSealed(kept) ? kept : ctx.peerPasswords.seal(kept) };
                return p.password === undefined ? p : { ...p, password: ctx.peerPasswords.seal(p.password) };
              }),
            },
          }),
        };
        await tx.node.update({ where: { id: input.id }, data: { announce: announce ?? DbNull } });
        // The audit names what changed, never a password.
        const summary = announce
          ? {
              ...(announce.bgp && {
                bgp: {
                  localAsn: announce.bgp.localAsn,
                  routerId: announce.bgp.routerId,
                  peers: announce.bgp.peers.map((p) => `${p.address} AS${p.asn}`),
                },
              }),
              ...(announce.vrrp && { vrrp: announce.vrrp }),
            }
          : { cleared: true };
        return { id: input.id, summary };
      },
    );
  } catch (err) {
    // Checks that need the node's services (a VRRP interface its L2 services do not use, a peer that is its router id) fail at compile time.
    if (err instanceof CompileError && err.nodeId === input.id) {
      const first = err.problems[0]!;
      const path = first.path.replace(/^\$\.balancer\./, '').replace(/\[(\d+)\]/g, '.$1');
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: `${path}: ${first.message}`,
        cause: new z.ZodError([{ code: 'custom', path: path.split('.'), message: first.message, input: undefined }]),
      });
    }
    throw err;
  }
});
