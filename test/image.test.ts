// The panel image's entry point, where no container engine runs: the tree the
// Dockerfile copies to /app (apps/web/.next/image: Next's standalone output
// completed by apps/web/scripts/build-standalone.mjs) is copied out of the repository, so
// nothing resolves from the repository's node_modules, and started with the
// Dockerfile's CMD, WORKDIR layout and ENV, as an unprivileged user.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/panel.ts';

const repo = fileURLToPath(new URL('../', import.meta.url));
const standalone = join(repo, 'apps/web/.next/standalone');
const unavailable = !existsSync(join(standalone, 'apps/web/.next/BUILD_ID'))
  ? 'apps/web has no standalone build: run `npx turbo run build` first (npm test does)'
  : process.getuid?.() !== 0
    ? 'needs root to start the panel as an unprivileged user'
    : undefined;

const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
const runStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

describe.skipIf(unavailable)(`the panel image's entry point${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let db: TestDatabase;
  let dir: string;
  let app: string;
  let panel: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, ['apps/web/scripts/build-standalone.mjs'], { cwd: repo, timeout: 600_000 });
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'tula-image-'));
    chmodSync(dir, 0o755);
    app = join(dir, 'app');
    cpSync(join(repo, 'apps/web/.next/image'), app, { recursive: true, verbatimSymlinks: true });
  }, 600_000);

  afterAll(async () => {
    if (panel && panel.exitCode === null) {
      const gone = new Promise((r) => panel!.once('exit', r));
      panel.kill('SIGTERM');
      await gone;
    }
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships compiled JavaScript and production packages only, without the lab', () => {
    for (const devOnly of ['tsx', 'typescript', 'vitest', '@playwright/test', 'esbuild', 'postject', 'turbo', 'prisma']) {
      expect(existsSync(join(app, 'node_modules', devOnly)), `${devOnly} in the image`).toBe(false);
    }
    const server = readFileSync(join(app, 'apps/web/server.mjs'), 'utf8');
    expect(server).toContain('import("@tula/lab")');
    for (const labCode of ['createLab', 'backend-server.ts', 'LAB_PREFIX']) expect(server.includes(labCode), labCode).toBe(false);
    expect(existsSync(join(app, 'node_modules/@tula/lab'))).toBe(false);
  });

  it("the Dockerfile's CMD starts the panel from the build output, which answers its health check", async () => {
    expect(runStage).toContain('COPY --from=build /src/apps/web/.next/image /app');
    expect(runStage).toMatch(/\nUSER node\n/);
    expect(runStage).toContain('HEALTHCHECK');
    const cmd = JSON.parse(/\nCMD (\[.*\])\n/.exec(runStage)![1]!) as string[];
    const envLine = /\nENV (.*)\n/.exec(runStage)![1]!;
    const imageEnv = Object.fromEntries(envLine.split(' ').map((kv) => kv.split('=') as [string, string]));
    const port = await freePort();
    panel = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
      cwd: app,
      uid: 65534,
      gid: 65534,
      env: {
        PATH: '/usr/local/bin:/usr/bin:/bin',
        ...imageEnv,
        TULA_DATA_DIR: join(dir, 'data'),
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        TULA_PUBLIC_URL: `http://127.0.0.1:${port}`,
        // Asked for, the lab says it is not in this build instead of loading anything.
        TULA_LAB: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    panel.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    panel.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 90_000;
    while (!output.includes('Tula control panel on')) {
      if (panel.exitCode !== null) throw new Error(`the panel exited ${panel.exitCode}:\n${output}`);
      if (Date.now() > deadline) throw new Error(`the panel did not listen:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const health = await fetch(`http://127.0.0.1:${port}/api/health`);
    expect(health.status).toBe(200);
    const login = await fetch(`http://127.0.0.1:${port}/login`);
    expect(login.status).toBe(200);
    expect(login.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await login.text()).toContain('<html');
    const script = await fetch(`http://127.0.0.1:${port}/_next/static/` + (await firstStaticChunk(app)));
    expect(script.status).toBe(200);
    await waitForOutput(() => output, 'lab: off, because its code is not in this build');
  }, 120_000);
});

async function firstStaticChunk(app: string): Promise<string> {
  const { stdout } = await promisify(execFile)('find', ['.', '-name', '*.js', '-print', '-quit'], {
    cwd: join(app, 'apps/web/.next/static'),
  });
  return stdout.trim().replace(/^\.\//, '');
}

async function waitForOutput(read: () => string, text: string) {
  const deadline = Date.now() + 10_000;
  while (!read().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in:\n${read()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
