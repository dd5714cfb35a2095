// `tula-agent status`: applied version, backend health and counters, as JSON.
import { modelFromJson } from '@tula/nft';
import { z } from 'zod';
import { APPLIED_FILE } from '../dataplane/converge.ts';
import { readSnapshot } from '../dataplane/counters.ts';
import type { StateDir } from '../state-dir.ts';

export const STATUS_FILE = 'status.json';

export const AgentStatus = z.object({
  pid: z.number(),
  updatedAt: z.string(),
  stateFile: z.string().optional(),
  version: z.number().optional(),
  appliedAt: z.string().optional(),
  lastError: z.string().optional(),
  warnings: z.array(z.string()).default([]),
  health: z.record(z.string(), z.object({ healthy: z.boolean(), since: z.number(), lastError: z.string().optional(), checkedAt: z.number().optional() })),
  /** What the balancer announces (BGP, VRRP) and why not the rest; see announce/announcer.ts. */
  announce: z.unknown().optional(),
});
export type AgentStatus = z.infer<typeof AgentStatus>;

/** `run` rewrites its status every second; an older file means it stopped. */
const STATUS_FRESH_MS = 5000;

export async function statusReport(stateDir: StateDir): Promise<unknown> {
  const applied = stateDir.read(APPLIED_FILE, z.object({ model: z.unknown(), appliedAt: z.string() }));
  const live = stateDir.read(STATUS_FILE, AgentStatus);
  const running = live !== undefined && Date.now() - Date.parse(live.updatedAt) < STATUS_FRESH_MS;
  const model = applied ? modelFromJson(applied.model) : undefined;
  const counters = model ? await readSnapshot(model) : undefined;
  return {
    running,
    appliedVersion: model?.version ?? null,
    appliedAt: applied?.appliedAt ?? null,
    lastError: running ? (live?.lastError ?? null) : null,
    warnings: model?.warnings ?? [],
    backends: (model?.backends ?? []).map((b) => {
      const h = running ? live?.health[`${b.service}|${b.address}`] : undefined;
      return {
        service: b.service,
        address: b.address,
        condition: b.condition,
        slots: b.slots,
        healthy: h?.healthy ?? null,
        healthSince: h ? new Date(h.since).toISOString() : null,
        lastCheckError: h?.lastError ?? null,
      };
    }),
    counters: counters ?? null,
    announce: running ? (live?.announce ?? null) : null,
  };
}
