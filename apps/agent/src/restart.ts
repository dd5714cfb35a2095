// How `tula-agent run` starts its new binary after an upgrade (server/upgrade.ts).
import { spawn } from 'node:child_process';
import { RESTART_EXIT_CODE } from './server/upgrade.ts';

/** systemd sets INVOCATION_ID in the environment of every service it runs. */
export function underSystemd(): boolean {
  return Boolean(process.env.INVOCATION_ID);
}

/**
 * Called once the agent has stopped (its rules stay in the kernel). Under systemd it
 * exits with RESTART_EXIT_CODE, which the unit's RestartForceExitStatus restarts from
 * the new file, through ExecStartPre's check and Type=notify's readiness. Without
 * systemd nothing would restart it, so it starts the new binary itself with the same
 * arguments and environment (TULA_AGENT_PID_FILE then names the new process).
 */
export function restartIntoNewBinary(log: (m: string) => void): never {
  if (underSystemd()) process.exit(RESTART_EXIT_CODE);
  const child = spawn(process.execPath, process.argv.slice(2), {
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: process.env,
  });
  child.unref();
  log(`started the upgraded agent as pid ${child.pid}`);
  process.exit(0);
}
