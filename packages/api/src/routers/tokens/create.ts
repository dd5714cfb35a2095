import { newSecret, sha256 } from '@tula/control';
import { isLoopbackUrl } from '@tula/protocol';
import { CreateTokenInput } from '@tula/validators';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

/** A new enrollment token. The token itself is returned only here; the database keeps its hash. */
export const createToken = writeProcedure.input(CreateTokenInput).mutation(async ({ ctx, input }) => {
  const token = newSecret('tet');
  const expiresAt = new Date(Date.now() + input.expiresInHours * 3600_000);
  const row = await change(
    ctx,
    (r: { id: string }) => ({
      action: 'token.create',
      targetType: 'enrollment_token',
      targetId: r.id,
      data: { maxUses: input.maxUses, expiresAt },
    }),
    (tx) =>
      tx.enrollmentToken.create({
        data: {
          organizationId: ctx.org.id,
          tokenHash: sha256(token),
          prefix: token.slice(0, 10),
          description: input.description,
          maxUses: input.maxUses,
          expiresAt,
          createdById: ctx.user?.id ?? null,
        },
      }),
  );
  return {
    id: row.id,
    token,
    expiresAt,
    maxUses: input.maxUses,
    // One line to paste on the host: the panel serves the agent and its install script.
    // A plain http:// panel needs the agent's --insecure (it refuses to send its credential
    // unencrypted otherwise); the dialog warns about it.
    command: `curl -fsSL ${ctx.publicUrl}/install.sh | sudo sh -s -- --token ${token}${publicUrlIsPlainHttp(ctx.publicUrl) ? ' --insecure' : ''}`,
    publicUrl: ctx.publicUrl,
    publicUrlIsLoopback: isLoopbackUrl(ctx.publicUrl),
    publicUrlIsPlainHttp: publicUrlIsPlainHttp(ctx.publicUrl),
  };
});

/** http:// to another host: the agent's credential would cross the network unencrypted. */
function publicUrlIsPlainHttp(url: string): boolean {
  return url.startsWith('http://') && !isLoopbackUrl(url);
}
