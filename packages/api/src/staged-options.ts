import { z } from 'zod';

/** How an edit is applied staged: the canary balancer first, then the others in batches, each held with no regression. */
export const StagedOptions = z.strictObject({
  /** The balancer that takes the change first; the first balancer by id when omitted. */
  canary: z.string().min(1).max(64).optional(),
  batchSize: z.int().min(1).max(1000).default(1),
  holdSeconds: z.int().min(1).max(86_400).default(300),
});
export type StagedOptions = z.output<typeof StagedOptions>;
