// The agent upgrading itself when the panel says so (message `upgrade`): it
// downloads its architecture's binary from the panel's /download, checks it
// against the SHA-256 the panel sent over the authenticated socket, runs it once
// (`--version` must name the version asked for), keeps the running binary as
// tula-agent.previous for a rollback, moves the new one over it by rename (written
// beside it and fsynced first, so a crash leaves the old or the new file, never
// half of one) and restarts. The kernel keeps forwarding meanwhile: stopping the
// agent leaves the rules in place. Progress and failures go back to the panel.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { link, open, realpath, rename, unlink } from 'node:fs/promises';
import { arch } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { UpgradeOrder, UpgradeProgress } from '@tula/protocol';
import { run } from '../exec.ts';

/** Exit code of an agent that replaced its binary: the unit's RestartForceExitStatus starts the new one. */
export const RESTART_EXIT_CODE = 75;
/** The longest a download may take (a binary is ~100 MB). */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

export interface UpgraderOptions {
  /** The panel's URL (the credential's `server`). */
  server: string;
  /** The file the running agent was started from (a single executable's process.execPath). */
  binary: string | undefined;
  report: (progress: Omit<UpgradeProgress, 'type'>) => void;
  log: (m: string) => void;
  /** Stops the agent and starts the binary now in place (see cli.ts). */
  restart: () => void;
}

class UpgradeFailed extends Error {}

export class Upgrader {
  private running: string | undefined;

  constructor(private readonly options: UpgraderOptions) {}

  /** Carries out one order; a second while one runs is refused (the panel sees why). */
  async upgrade(order: UpgradeOrder): Promise<void> {
    const { report, log } = this.options;
    if (this.running) {
      report({ version: order.version, state: 'failed', message: `an upgrade to ${this.running} is under way; ask again once it ends` });
      return;
    }
    this.running = order.version;
    try {
      const installed = await this.install(order);
      report({ version: order.version, state: 'restarting', message: `installed ${installed}; restarting` });
      log(`upgraded the agent binary to ${order.version} (${installed}); restarting, the kernel keeps forwarding`);
      this.options.restart();
    } catch (err) {
      const message = err instanceof UpgradeFailed ? err.message : `unexpected error: ${(err as Error).message}`;
      log(`upgrade to ${order.version} failed, this version keeps running: ${message}`);
      report({ version: order.version, state: 'failed', message });
    } finally {
      this.running = undefined;
    }
  }

  /** Puts the new binary in place; returns its path. */
  private async install(order: UpgradeOrder): Promise<string> {
    const { server, report } = this.options;
    if (!this.options.binary)
      throw new UpgradeFailed(
        'this agent runs from source (node/tsx), not the single executable: upgrade its checkout, or install the agent with /install.sh',
      );
    const wanted = arch() === 'arm64' ? 'arm64' : 'x64';
    const file = order.binaries.find((b) => b.arch === wanted);
    if (!file)
      throw new UpgradeFailed(`the panel has no agent build for linux-${wanted}: run npm run build:agent-binary on a linux-${wanted} host`);
    const target = await realpath(this.options.binary);
    const dir = dirname(target);
    const partial = join(dir, `.${basename(target)}.${order.version}.download`);

    report({ version: order.version, state: 'downloading', message: `${file.name}, ${file.size} bytes` });
    // Opened before downloading: a directory the agent may not write to fails fast.
    const out = await open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o755).catch(
      (err: NodeJS.ErrnoException) => {
        throw new UpgradeFailed(
          `cannot write ${dir}: ${err.code ?? err.message} (under systemd the unit's ReadWritePaths must name ${dir}: run /install.sh again to get the current unit)`,
        );
      },
    );
    let digest: string;
    try {
      const url = new URL(`/download/${encodeURIComponent(file.name)}`, server);
      const res = await fetch(url, { signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS) }).catch((err: Error) => {
        throw new UpgradeFailed(`cannot download ${url.href}: ${err.message}`);
      });
      if (!res.ok || !res.body) throw new UpgradeFailed(`cannot download ${url.href}: HTTP ${res.status}`);
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of res.body) {
        size += chunk.byteLength;
        if (size > file.size)
          throw new UpgradeFailed(`the download of ${file.name} is larger than the ${file.size} bytes the panel announced`);
        hash.update(chunk);
        await out.write(chunk);
      }
      await out.sync();
      digest = hash.digest('hex');
    } catch (err) {
      await out.close();
      await unlink(partial).catch(() => undefined);
      if (err instanceof UpgradeFailed) throw err;
      throw new UpgradeFailed(`downloading ${file.name}: ${(err as Error).message}`);
    }
    await out.close();
    try {
      if (digest !== file.sha256)
        throw new UpgradeFailed(
          `the download does not match the SHA-256 the panel sent (expected ${file.sha256}, got ${digest}): altered or cut short on the way; nothing was replaced`,
        );
      const said = await run([partial, '--version'], { allowFailure: true, timeoutMs: 30_000 }).catch((err: Error) => ({
        code: 1,
        stdout: '',
        stderr: err.message,
      }));
      if (said.code !== 0)
        throw new UpgradeFailed(`the downloaded agent does not run on this host: ${said.stderr.trim() || `exit ${said.code}`}`);
      if (said.stdout.trim() !== order.version)
        throw new UpgradeFailed(`the downloaded agent is version ${said.stdout.trim()}, not ${order.version}; nothing was replaced`);
      // The running binary stays as .previous (a second name for the same file, then renamed over the last one).
      const previous = `${target}.previous`;
      const previousLink = `${previous}.link`;
      await unlink(previousLink).catch(() => undefined);
      await link(target, previousLink);
      await rename(previousLink, previous);
      await rename(partial, target);
      await syncDirectory(dir);
    } catch (err) {
      await unlink(partial).catch(() => undefined);
      if (err instanceof UpgradeFailed) throw err;
      throw new UpgradeFailed(`cannot replace ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return target;
  }
}

/** The renames reach the disk (a directory's fsync) before the agent restarts into the new file. */
async function syncDirectory(dir: string) {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
