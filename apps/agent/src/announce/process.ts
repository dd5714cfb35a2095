// The routing daemons run beside the agent, not under it: a crashed or
// restarted agent leaves them (and the announcements they hold) in place and
// adopts them through their pid files, as it adopts the nft tables it finds.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

/** The pid in `pidFile` when that process is alive and its command line mentions `marker` (not a reused pid). */
export function livePid(pidFile: string, marker: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(marker) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Sends SIGTERM and waits up to `ms` for the process to exit; SIGKILL after that. */
export async function terminate(pid: number, ms = 5000): Promise<void> {
  const alive = () => {
    try {
      process.kill(pid, 0);
      return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
    } catch {
      return false;
    }
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + ms;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (alive()) process.kill(pid, 'SIGKILL');
}

/** The configuration file's text, undefined when there is none. */
export function currentConfig(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Puts `text` at `path` (mode 0600: it may hold secrets) once `check` accepts a copy: a refused config never replaces the running one. */
export async function installConfig(path: string, text: string, check: (candidate: string) => Promise<void>): Promise<void> {
  const candidate = `${path}.new`;
  writeFileSync(candidate, text, { mode: 0o600 });
  try {
    await check(candidate);
  } catch (err) {
    rmSync(candidate, { force: true });
    throw err;
  }
  renameSync(candidate, path);
}
