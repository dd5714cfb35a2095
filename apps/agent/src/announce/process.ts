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

/** What applyConfig needs of a routing daemon. */
export interface DaemonDriver {
  /** Its configuration file. */
  config: string;
  /** The running daemon's pid, adopted from its pid file; undefined when none runs. */
  pid(): number | undefined;
  /** Throws, saying why, when the daemon would not run `candidate`. */
  check(candidate: string): Promise<void>;
  start(): Promise<void>;
  reload(pid: number): Promise<void>;
}

/**
 * Makes the daemon run `text`: nothing when the running one already does; else the
 * text is checked and installed, then the daemon started, or the running one (perhaps
 * started by an earlier agent) told to reload.
 */
export async function applyConfig(daemon: DaemonDriver, text: string): Promise<'started' | 'reloaded' | 'unchanged'> {
  const running = daemon.pid();
  if (running && currentConfig(daemon.config) === text) return 'unchanged';
  await installConfig(daemon.config, text, (candidate) => daemon.check(candidate));
  if (!running) {
    await daemon.start();
    return 'started';
  }
  await daemon.reload(running);
  return 'reloaded';
}
