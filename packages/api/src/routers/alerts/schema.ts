import { z } from 'zod';

export const AlertKind = z.enum(['backend_down', 'service_down', 'node_offline', 'nack', 'drift', 'rollout_rolled_back', 'trial_ending']);
const Id = z.string().min(1).max(64);
/** node_offline: 10 s to a day; trial_ending: up to 14 days ahead. */
export const RuleSeconds = z
  .int()
  .min(10, 'At least 10 seconds.')
  .max(14 * 86_400, 'At most 14 days.');
export const RuleFields = { enabled: z.boolean(), email: z.boolean(), seconds: RuleSeconds.nullable() };
export const RuleScope = { serviceId: Id.nullable(), backendId: Id.nullable() };
