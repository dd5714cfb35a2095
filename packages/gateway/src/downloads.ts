// The agent's release files, served by the panel: GET /download/<file> (the
// files of `npm run build:agent-binary`), /download/SHA256SUMS and
// /download/manifest.json (their SHA-256 digests), and GET /install.sh (the
// install script with this panel's public URL filled in).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { TULA_VERSION } from '@tula/protocol';

export const INSTALL_SCRIPT = 'install.sh';
const PUBLIC_URL_PLACEHOLDER = '@TULA_PUBLIC_URL@';
/** Release file names: no path separators, nothing hidden. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface ReleaseFile {
  name: string;
  size: number;
  sha256: string;
}

export interface ReleaseManifest {
  version: string;
  files: ReleaseFile[];
}

// Digests are computed once per file version (name, size, mtime): a release is ~120 MB.
const digests = new Map<string, { key: string; sha256: string }>();

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The release directory's files with their SHA-256; empty when nothing was built. */
export async function releaseManifest(dir: string): Promise<ReleaseManifest> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: ReleaseFile[] = [];
  for (const name of names.filter((n) => FILE_NAME.test(n)).sort()) {
    const path = join(dir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) continue;
    const key = `${info.size}:${info.mtimeMs}`;
    let cached = digests.get(path);
    if (cached?.key !== key) {
      cached = { key, sha256: await sha256File(path) };
      digests.set(path, cached);
    }
    files.push({ name, size: info.size, sha256: cached.sha256 });
  }
  return { version: TULA_VERSION, files };
}

/**
 * Whether the panel can serve what the "Add a node" line fetches: the install script and at
 * least one agent file beside it (`npm run build:agent-binary`). Reads names only, no digests.
 */
export async function agentDownloadsAvailable(dir: string): Promise<boolean> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => FILE_NAME.test(n));
  if (!names.includes(INSTALL_SCRIPT)) return false;
  const isFile = (name: string) =>
    stat(join(dir, name)).then(
      (s) => s.isFile(),
      () => false,
    );
  if (!(await isFile(INSTALL_SCRIPT))) return false;
  for (const name of names) if (name !== INSTALL_SCRIPT && (await isFile(name))) return true;
  return false;
}

const NOT_BUILT =
  'This panel has no agent build to serve: run `npm run build:agent-binary` where the panel is built (the Docker image does).';
const NOT_BUILT_SCRIPT = `#!/bin/sh\necho 'tula: ${NOT_BUILT.replaceAll("'", '')}' >&2\nexit 1\n`;

const notBuilt = () =>
  new Response(`${NOT_BUILT}\n`, {
    status: 503,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
  });

/** GET /download/<name>. */
export async function serveDownload(dir: string, name: string): Promise<Response> {
  const manifest = await releaseManifest(dir);
  if (name === 'manifest.json') return Response.json(manifest, { headers: { 'cache-control': 'no-store' } });
  if (!manifest.files.length) return notBuilt();
  if (name === 'SHA256SUMS') {
    // The format of sha256sum(1), so `sha256sum -c` checks a download.
    const text = manifest.files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
    return new Response(text, { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
  }
  const file = manifest.files.find((f) => f.name === name);
  if (!file) return new Response(`No such file: ${name}. The files are listed in /download/manifest.json.\n`, { status: 404 });
  const body = Readable.toWeb(createReadStream(join(dir, file.name))) as ReadableStream<Uint8Array>;
  return new Response(body, {
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(file.size),
      'content-disposition': `attachment; filename="${file.name}"`,
      'x-checksum-sha256': file.sha256,
      'cache-control': 'no-cache',
    },
  });
}

/** GET /install.sh: the install script, pointing at this panel. */
export async function serveInstallScript(dir: string, publicUrl: string): Promise<Response> {
  const template = await readFile(join(dir, INSTALL_SCRIPT), 'utf8').catch(() => undefined);
  // Still a script: piped into sh behind `curl -f`, an error status would print only curl's
  // "error 503" and let the pipe succeed, so the person would never read why.
  if (template === undefined)
    return new Response(NOT_BUILT_SCRIPT, {
      headers: { 'content-type': 'text/x-shellscript; charset=utf-8', 'cache-control': 'no-store' },
    });
  return new Response(template.replaceAll(PUBLIC_URL_PLACEHOLDER, shellSafeUrl(publicUrl)), {
    headers: { 'content-type': 'text/x-shellscript; charset=utf-8', 'cache-control': 'no-store' },
  });
}

/** The URL as it goes between single quotes in the script: an http(s) URL with no quote or space. */
export function shellSafeUrl(publicUrl: string): string {
  const url = URL.canParse(publicUrl) ? new URL(publicUrl) : undefined;
  if (!url || !['http:', 'https:'].includes(url.protocol)) throw new Error(`TULA_PUBLIC_URL is not an http(s) URL: ${publicUrl}`);
  const text = url.href.replace(/\/+$/, '');
  if (/['"\s\\`$]/.test(text)) throw new Error(`TULA_PUBLIC_URL has characters a shell script cannot carry: ${publicUrl}`);
  return text;
}
