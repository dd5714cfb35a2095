import { z } from 'zod';

/** The panel process's own settings (the database's are in @tula/db). */
export const PanelEnv = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** Where people and agents reach the panel; used in links and the agent command line. */
  TULA_PUBLIC_URL: z.string().url().optional(),
  /** The agent's release files to serve under /download; unset: apps/agent/dist/release of this tree. */
  TULA_AGENT_RELEASE_DIR: z.string().min(1).optional(),
  /** Signs session cookies; unset: generated once and kept in the database. */
  TULA_AUTH_SECRET: z.string().min(32, 'TULA_AUTH_SECRET must be at least 32 characters').optional(),
  /** How long history is kept: per-second counters (and per-node 10 s detail), minute and hour rollups, health transitions and audit events. */
  TULA_COUNTER_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 90)
    .default(24),
  TULA_MINUTE_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(30),
  TULA_HOUR_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(400),
  TULA_HISTORY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(400),
  /** Alerts (the notification list), and their webhook and mail deliveries with the attempt log. */
  TULA_ALERT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(400),
  TULA_DELIVERY_RETENTION_DAYS: z.coerce.number().int().min(1).max(3660).default(30),
  /** smtp://user:pass@host:port (or smtps://): outgoing mail. Unset: mail goes to the outbox. */
  TULA_SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\//, 'TULA_SMTP_URL must start with smtp:// or smtps://')
    .optional(),
  TULA_MAIL_FROM: z.string().min(3).default('Tula <tula@localhost>'),
  /** What an organisation on the free trial may have. */
  TULA_TRIAL_MAX_NODES: z.coerce.number().int().min(1).default(10),
  TULA_TRIAL_MAX_SERVICES: z.coerce.number().int().min(1).default(25),
  /** Build the local lab (network namespaces, agents, demo services, traffic); README command 1 sets it. */
  TULA_LAB: z.enum(['0', '1']).default('0'),
  /** Brute-force limits per client address and minute. */
  TULA_SIGNUPS_PER_MINUTE: z.coerce.number().int().min(1).default(5),
  TULA_SIGNINS_PER_MINUTE: z.coerce.number().int().min(1).default(10),
  TULA_ENROLLMENTS_PER_MINUTE: z.coerce.number().int().min(1).default(10),
  /** Invitations per organisation and hour, and per client address and hour. */
  TULA_INVITATIONS_PER_HOUR: z.coerce.number().int().min(1).default(20),
  /**
   * Reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For or
   * Forwarded header names the client. Unset: the socket's peer is the client, headers are ignored.
   */
  TULA_TRUSTED_PROXIES: z.string().optional(),
  /** The first retry of a failed alert delivery waits this long; each further one twice as long (up to an hour). */
  TULA_ALERT_RETRY_BASE_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** Bearer token Prometheus sends to scrape /metrics. Unset: /metrics answers 404. */
  TULA_METRICS_TOKEN: z.string().min(24, 'TULA_METRICS_TOKEN must be at least 24 characters').optional(),
});
export type PanelEnv = z.infer<typeof PanelEnv>;

export function readPanelEnv(env: NodeJS.ProcessEnv = process.env): PanelEnv {
  const pick = (k: keyof PanelEnv) => env[k] || undefined;
  const parsed = PanelEnv.safeParse(Object.fromEntries((Object.keys(PanelEnv.shape) as (keyof PanelEnv)[]).map((k) => [k, pick(k)])));
  if (!parsed.success) {
    throw new Error(
      `Invalid panel settings in the environment:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  }
  return parsed.data;
}
