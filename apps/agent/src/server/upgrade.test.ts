// The agent's self-upgrade against a real HTTP server and real files: the "binaries"
// are shell scripts that print their version, which is all the upgrade runs of them.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UpgradeOrder, UpgradeProgress } from '@tula/protocol';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Upgrader } from './upgrade.ts';

const ARCH = arch() === 'arm64' ? 'arm64' : 'x64';
const NAME = `tula-agent-linux-${ARCH}`;
const script = (version: string) => `#!/bin/sh\necho ${version}\n`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the agent upgrading itself', () => {
  let server: Server;
  let panel: string;
  /** What the panel serves as the binary. */
  let served = script('0.2.0');
  let dir: string;
  let binary: string;
  let reports: Omit<UpgradeProgress, 'type'>[];
  let restarts: number;

  const order = (over: Partial<UpgradeOrder['binaries'][number]> = {}, version = '0.2.0'): UpgradeOrder => ({
    type: 'upgrade',
    version,
    binaries: [{ arch: ARCH, name: NAME, size: Buffer.byteLength(served), sha256: sha256(served), ...over }],
  });
  /** null: run from source, with no binary of its own. */
  const upgrader = (path: string | null = join(dir, 'bin-link')) =>
    new Upgrader({
      server: panel,
      binary: path ?? undefined,
      report: (p) => reports.push(p),
      log: () => undefined,
      restart: () => restarts++,
    });
  const lastReport = () => reports[reports.length - 1];

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== `/download/${NAME}`) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(served);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    panel = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  beforeEach(() => {
    served = script('0.2.0');
    dir = mkdtempSync(join(tmpdir(), 'tula-upgrade-'));
    binary = join(dir, 'tula-agent');
    writeFileSync(binary, script('0.1.0'), { mode: 0o755 });
    // Started through a link, as /usr/bin/tula-agent -> /usr/lib/tula-agent/tula-agent.
    symlinkSync(binary, join(dir, 'bin-link'));
    reports = [];
    restarts = 0;
    return () => {
      chmodSync(dir, 0o755);
      rmSync(dir, { recursive: true, force: true });
    };
  });

  it('replaces the file the link points to, keeps the old one as .previous, then restarts', async () => {
    await upgrader().upgrade(order());
    expect(reports.map((r) => r.state)).toEqual(['downloading', 'restarting']);
    expect(readFileSync(binary, 'utf8')).toBe(script('0.2.0'));
    expect(readFileSync(`${binary}.previous`, 'utf8')).toBe(script('0.1.0'));
    expect(restarts).toBe(1);
    expect(readdirSync(dir).sort()).toEqual(['bin-link', 'tula-agent', 'tula-agent.previous']);
  });

  it('refuses a download whose SHA-256 differs, leaving nothing behind', async () => {
    served = script('0.2.0-altered');
    await upgrader().upgrade({ ...order(), binaries: [{ ...order().binaries[0]!, sha256: sha256(script('0.2.0')) }] });
    expect(lastReport()).toMatchObject({ state: 'failed', message: expect.stringContaining('does not match the SHA-256 the panel sent') });
    expect(readFileSync(binary, 'utf8')).toBe(script('0.1.0'));
    expect(restarts).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['bin-link', 'tula-agent']);
  });

  it('refuses a binary that reports another version than the one asked for', async () => {
    await upgrader().upgrade(order({}, '0.3.0'));
    expect(lastReport()).toMatchObject({ state: 'failed', message: expect.stringContaining('is version 0.2.0, not 0.3.0') });
    expect(readFileSync(binary, 'utf8')).toBe(script('0.1.0'));
    expect(restarts).toBe(0);
  });

  it('says which directory it may not write to', async (ctx) => {
    if (process.getuid?.() === 0) ctx.skip(true, 'root writes a read-only directory anyway (the namespace test drops CAP_DAC_OVERRIDE)');
    chmodSync(dir, 0o555);
    await upgrader().upgrade(order());
    expect(lastReport()).toMatchObject({ state: 'failed', message: expect.stringContaining(`cannot write ${dir}`) });
    expect(restarts).toBe(0);
  });

  it('refuses without a single executable of its own, or without a build for its architecture', async () => {
    await upgrader(null).upgrade(order());
    expect(lastReport()).toMatchObject({ state: 'failed', message: expect.stringContaining('runs from source') });
    const other = ARCH === 'x64' ? 'arm64' : 'x64';
    await upgrader().upgrade(order({ arch: other, name: `tula-agent-linux-${other}` }));
    expect(lastReport()).toMatchObject({ state: 'failed', message: expect.stringContaining(`no agent build for linux-${ARCH}`) });
    expect(existsSync(`${binary}.previous`)).toBe(false);
  });
});
