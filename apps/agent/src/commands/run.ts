// `tula-agent run --state FILE`: keeps the host converged to FILE, reloading it
// when it changes, running health checks, and publishing status for `status`.
import { watch, type FSWatcher } from 'node:fs';
import { Daemon } from '../daemon.ts';
import { StateFileError, loadStateFile } from '../state-file.ts';
import type { StateDir } from '../state-dir.ts';
import { describeError } from './errors.ts';

export interface RunOptions {
  stateFile: string;
  stateDir: StateDir;
  dryRun: boolean;
  log: (m: string) => void;
}

export async function runFromFile(options: RunOptions, stopped: Promise<void>): Promise<Daemon> {
  const daemon = new Daemon({ stateDir: options.stateDir, dryRun: options.dryRun, log: options.log, source: options.stateFile });
  let lastText = '';
  async function reload() {
    try {
      const next = await loadStateFile(options.stateFile);
      const text = JSON.stringify(next);
      if (text === lastText) return;
      lastText = text;
      daemon.setDesired(next);
    } catch (err) {
      const message = err instanceof StateFileError ? err.message : describeError(err);
      options.log(`keeping the current state: ${message}`);
      daemon.reportSourceError(message);
    }
  }
  await reload();
  let watcher: FSWatcher | undefined;
  try {
    // Notifications make reloads prompt; the poll below also catches files
    // replaced by rename (editors, atomic writers), which end a watch.
    watcher = watch(options.stateFile, { persistent: false }, () => void reload());
  } catch {
    // Polling covers file systems without notifications.
  }
  const poll = setInterval(() => void reload(), 1000);
  void stopped.then(() => {
    watcher?.close();
    clearInterval(poll);
  });
  return daemon;
}
