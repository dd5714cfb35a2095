// The lab and the kernel tests start the agent and the traffic scripts in namespaces hundreds of
// times. Through tsx each start compiled the TypeScript again: 0.4 CPU-seconds for a backend
// server against 0.1 from plain JavaScript, 1 against 0.2 for the agent (measured 2026-12-06).
// Here esbuild compiles each entry once per process.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const compiled = new Map<string, string>();

/**
 * `entry` (TypeScript, with what it imports) as one JavaScript file for this Node.js, compiled once
 * per process. The file is named by its content (`name`-hash.mjs in a directory of this user's
 * under the temporary directory), so processes and runs of the same source share it and nothing
 * has to remove it.
 */
export function compiledEntry(entry: string, name = basename(entry, '.ts')): string {
  const known = compiled.get(entry);
  if (known) return known;
  const [output] = buildSync({
    entryPoints: [entry],
    outfile: `${name}.mjs`,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    // Bundled CommonJS packages call require(), which an ES module does not have. (import.meta.filename:
    // the panel's bundler, which compiles this file for the lab, rewrites the text import.meta.url.)
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.filename);" },
  }).outputFiles;
  const dir = join(tmpdir(), `tula-compiled-${process.getuid?.() ?? 'user'}`);
  const file = join(dir, `${name}-${createHash('sha256').update(output!.contents).digest('hex').slice(0, 16)}.mjs`);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    // Written beside and renamed into place: another process may be starting from the same file.
    writeFileSync(`${file}.${process.pid}.tmp`, output!.contents);
    renameSync(`${file}.${process.pid}.tmp`, file);
  }
  compiled.set(entry, file);
  return file;
}

/** The traffic and probe programs of packages/netlab/src that tests and the lab run in namespaces. */
export type NetlabScript = 'backend-server' | 'keepalive-client' | 'probe-client' | 'request-loop' | 'traffic' | 'udp-stream';

/** The command (before its arguments) that runs one of them with this Node.js. */
export function netlabScript(script: NetlabScript): string[] {
  return [process.execPath, compiledEntry(fileURLToPath(new URL(`./${script}.ts`, import.meta.url)))];
}
