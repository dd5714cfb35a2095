import { newSecret, sha256 } from '@tula/control';
import { CreateTokenInput } from '@tula/validators';
import { change } from '../../change.ts';
import { writeProcedure } from '../../trpc.ts';

/** A new enrollment token. The token itself is returned only here; the database keeps its hash. */
export const createToken = writeProcedure.input(CreateTokenInput).mutation(async ({ ctx, input }) => {
  const token = newSecret('tet');
  const expiresAt = new Date(Date.now() + input.expiresInHours * 3600_000);
  const row = await change(
    ctx,
    (r: { id: string }) => ({ action: 'token.create', targetType: 'enrollment_token', targetId: r.id, data: { maxUses: input.maxUses, expiresAt } }),
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
    command: `tula-agent run --server ${ctx.publicUrl} --token ${token} --name "$(hostname)"`,
  };
});
