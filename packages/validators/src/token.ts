import { z } from 'zod';

export const CreateTokenInput = z.strictObject({
  description: z.string().trim().max(200).default(''),
  maxUses: z.int().min(1).max(1000).default(1),
  expiresInHours: z
    .int()
    .min(1)
    .max(24 * 30)
    .default(24),
});
