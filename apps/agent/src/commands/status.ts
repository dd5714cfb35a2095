// `tula-agent status`: applied version, backend health and counters, as JSON.
import { z } from 'zod';
import { Drift, loadApplied } from '../dataplane/converge.ts';
import { BackendHealth } from '../health/checker.ts';
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
  lastDrift: Drift.optional(),
  health: z.record(z.string(), BackendHealth),
  /** What the balancer announces (BGP, VRRP) and why not the rest; see announce/announcer.ts. */
  announce: z.unknown().optional(),
});
export type AgentStatus = z.infer<typeof AgentStatus>;

/** `run` rewrites its status every second; an older file means it stopped. */
const STATUS_FRESH_MS = 5000;

export async function statusReport(stateDir: StateDir): Promise<unknown> {
  const saved = loadApplied(stateDir, () => undefined);
  const live = stateDir.read(STATUS_FILE, AgentStatus);
  const running = live !== undefined && Date.now() - Date.parse(live.updatedAt) < STATUS_FRESH_MS;
  const applied = saved?.applied;
  const model = saved?.model;
  const counters = model ? await readSnapshot(model) : undefined;
  return {
    running,
    appliedVersion: applied?.version ?? null,
    appliedAt: applied?.appliedAt ?? null,
    lastError: running ? (live?.lastError ?? null) : null,
    warnings: applied?.warnings ?? [],
    /** The last time the kernel's tables were found changed outside Tula (and repaired). */
    lastDrift: applied?.lastDrift ?? null,
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
