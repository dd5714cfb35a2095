// /install.sh from a panel with no agent build: piped into sh, it must fail and say why.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { serveInstallScript } from '../src/downloads.ts';

const empty = mkdtempSync(join(tmpdir(), 'tula-no-release-'));
afterAll(() => rmSync(empty, { recursive: true, force: true }));

it('answers a script that exits non-zero with the reason when no agent is built', async () => {
  const response = await serveInstallScript(empty, 'http://panel.example:3000');
  // curl -f passes it on: a 2xx status.
  expect(response.ok).toBe(true);
  const run = spawnSync('sh', ['-s', '--', '--token', 'tet_x'], { input: await response.text(), encoding: 'utf8' });
  expect(run.status).not.toBe(0);
  expect(run.stderr).toContain('npm run build:agent-binary');
});
