// `tula-agent status`: which state directory, whether the agent runs, applied version,
// backend health and counters, as JSON; notices (printed on stderr) when it is stale.
import { z } from 'zod';
import { backendKey } from '@tula/protocol';
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

/** Whether a process with this pid exists (EPERM: it does, under another user). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function statusReport(stateDir: StateDir) {
  const notices: string[] = [];
  const saved = loadApplied(stateDir, (m) => notices.push(m));
  const live = stateDir.read(STATUS_FILE, AgentStatus, (m) => notices.push(m));
  const ageMs = live ? Date.now() - Date.parse(live.updatedAt) : undefined;
  const pidAlive = live ? processExists(live.pid) : null;
  const running = ageMs !== undefined && ageMs < STATUS_FRESH_MS && pidAlive === true;
  if (!live) {
    notices.push(
      `no status file in ${stateDir.path}: no agent has run with this state directory (the service's is set by TULA_AGENT_STATE_DIR in /etc/default/tula-agent; choose with --state-dir)`,
    );
  } else if (!running) {
    const why = pidAlive ? 'still exists but stopped updating it' : 'is not running';
    notices.push(
      `stale: ${stateDir.file(STATUS_FILE)} was last written ${Math.round(ageMs! / 1000)} s ago by pid ${live.pid}, which ${why}; health and errors are not current (start it: systemctl start tula-agent)`,
    );
  }
  const applied = saved?.applied;
  const model = saved?.model;
  const counters = model ? await readSnapshot(model) : undefined;
  return {
    stateDir: stateDir.path,
    running,
    agent: { pid: live?.pid ?? null, pidAlive, statusWrittenAt: live?.updatedAt ?? null },
    notices,
    appliedVersion: applied?.version ?? null,
    appliedAt: applied?.appliedAt ?? null,
    lastError: running ? (live?.lastError ?? null) : null,
    warnings: applied?.warnings ?? [],
    /** The last time the kernel's tables were found changed outside Tula (and repaired). */
    lastDrift: applied?.lastDrift ?? null,
    backends: (model?.backends ?? []).map((b) => {
      const h = running ? live?.health[backendKey(b.service, b.address)] : undefined;
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
