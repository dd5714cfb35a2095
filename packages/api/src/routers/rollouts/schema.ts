import { z } from 'zod';

/** The service whose staged rollout is meant (one runs per service at a time). */
export const RolloutTarget = z.strictObject({ serviceId: z.string().min(1).max(64) });
