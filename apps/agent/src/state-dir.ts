// The agent's files: what it applied, what it changed on the host, its live status.
// Written atomically (temp file + rename) and validated when read back.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';

export const DEFAULT_STATE_DIR = '/var/lib/tula-agent';

export class StateDir {
  constructor(readonly path: string) {}

  ensure(): void {
    mkdirSync(this.path, { recursive: true, mode: 0o700 });
  }

  file(name: string): string {
    return join(this.path, name);
  }

  write(name: string, value: unknown, mode = 0o600): void {
    this.ensure();
    const target = this.file(name);
    const temp = `${target}.${process.pid}.tmp`;
    writeFileSync(temp, `${JSON.stringify(value, null, 1)}\n`, { mode });
    renameSync(temp, target);
  }

  /** The parsed file, undefined when absent; a corrupt file is reported and treated as absent. */
  read<T>(name: string, schema: z.ZodType<T>, onCorrupt?: (message: string) => void): T | undefined {
    let text: string;
    try {
      text = readFileSync(this.file(name), 'utf8');
    } catch {
      return undefined;
    }
    try {
      return schema.parse(JSON.parse(text));
    } catch (err) {
      onCorrupt?.(`${this.file(name)} is unreadable (${(err as Error).message.split('\n')[0]}); ignoring it`);
      return undefined;
    }
  }

  remove(name: string): void {
    rmSync(this.file(name), { force: true });
  }
}
