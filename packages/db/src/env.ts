import { z } from 'zod';

/** Database settings read from the environment; validated once at startup. */
export const DatabaseEnv = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'DATABASE_URL must be a postgresql:// URL')
    .optional(),
  TULA_DATA_DIR: z.string().min(1).default('.tula'),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
});
export type DatabaseEnv = z.infer<typeof DatabaseEnv>;

export function readDatabaseEnv(env: NodeJS.ProcessEnv = process.env): DatabaseEnv {
  const parsed = DatabaseEnv.safeParse({
    DATABASE_URL: env.DATABASE_URL || undefined,
    TULA_DATA_DIR: env.TULA_DATA_DIR || undefined,
    DATABASE_POOL_SIZE: env.DATABASE_POOL_SIZE || undefined,
  });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new Error(`Invalid database settings in the environment:\n${problems}`);
  }
  return parsed.data;
}
