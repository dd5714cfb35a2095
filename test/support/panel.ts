// Starts the real control-panel process (apps/web/server.ts compiled as `npm run
// build` compiles it, production build) for tests, on a free port, and stops it afterwards.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface PanelProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** The compiled server (apps/web/scripts/server-bundle.mjs), as `npm start` runs it. */
export const PANEL_SERVER = 'apps/web/.next/tula-server.mjs';
let bundleChecked = false;

/** Compiles the server again when a source it holds changed since the build (once per test process). */
function ensureServerBundle() {
  if (bundleChecked) return;
  execFileSync(process.execPath, ['apps/web/scripts/server-bundle.mjs', '--if-stale'], { cwd: repoRoot, stdio: 'inherit' });
  bundleChecked = true;
}

export async function startPanel(
  env: Record<string, string | undefined>,
  timeoutMs = 90_000,
  options: { port?: number; /** Run as this user (and group) id, e.g. to see the panel without root. */ uid?: number } = {},
): Promise<PanelProcess> {
  if (!existsSync(`${repoRoot}apps/web/.next/BUILD_ID`)) {
    throw new Error('apps/web has no production build: run `npx turbo run build` first (npm test does).');
  }
  ensureServerBundle();
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, [PANEL_SERVER], {
    cwd: repoRoot,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      HOST: '127.0.0.1',
      PORT: String(port),
      TULA_PUBLIC_URL: `http://127.0.0.1:${port}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid !== undefined && { uid: options.uid, gid: options.uid }),
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const deadline = Date.now() + timeoutMs;
  while (!out.includes('Tula control panel on')) {
    if (child.exitCode !== null) throw new Error(`panel exited with ${child.exitCode} before listening:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`panel did not listen within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
