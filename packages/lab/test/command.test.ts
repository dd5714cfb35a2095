// The lab:down command the panel and `lab:down` print carries the lab's settings
// when they are not the defaults: `sudo` drops the environment, and the plain
// command would remove the default lab (someone else's) instead.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { labDownCommand, labSudoCommand } from '../src/command.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

it('prints the plain command for the default lab and sudo VAR=value for another', () => {
  expect(labDownCommand({})).toBe('sudo npm run lab:down');
  expect(labDownCommand({ TULA_LAB_PREFIX: 'lab', TULA_LAB_NET: '200' })).toBe('sudo npm run lab:down');
  expect(labDownCommand({ TULA_LAB_PREFIX: 'nu', TULA_LAB_NET: '76' })).toBe('sudo TULA_LAB_PREFIX=nu TULA_LAB_NET=76 npm run lab:down');
  expect(labDownCommand({ TULA_LAB_PREFIX: 'nu' })).toBe('sudo TULA_LAB_PREFIX=nu npm run lab:down');
  expect(labSudoCommand('start', { TULA_LAB_NET: '76' })).toBe('sudo TULA_LAB_NET=76 npm start');
});

// Root is needed to run it as an unprivileged user (nobody).
it.skipIf(process.getuid?.() !== 0)('lab:down run without root names the command for its own lab', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'packages/lab/src/cli/down.ts'], {
    cwd: repoRoot,
    uid: 65534,
    gid: 65534,
    env: { PATH: process.env.PATH, HOME: '/tmp', TULA_LAB_PREFIX: 'nu', TULA_LAB_NET: '76' },
    encoding: 'utf8',
  });
  expect(run.stderr).toContain(
    'lab:down needs root (it removes network namespaces): sudo TULA_LAB_PREFIX=nu TULA_LAB_NET=76 npm run lab:down',
  );
  expect(run.status).toBe(1);
});
