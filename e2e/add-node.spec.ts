// "Add a node": the one line to paste (from the panel's public URL), a warning
// when that URL is one other hosts cannot reach, the tick when a node enrolls
// with the token; the Fleet page's outstanding tokens, with uses left and revoke.
import { expect, test } from './support/no-uncaught.ts';
import { signUp, uniqueEmail } from './support/app.ts';

test('the install line, the localhost warning, the enrollment tick, and revoking a multi-use token', async ({ page, baseURL }) => {
  await signUp(page, uniqueEmail('addnode'));
  await page.goto('/app/fleet');
  // The test panel has no agent build (no `npm run build:agent-binary`): the dialog says so, and what to run.
  await expect(page.getByTestId('agent-downloads-missing')).toContainText('npm run build:agent-binary');
  await page.getByLabel('Nodes to enroll').fill('2');
  await page.getByRole('button', { name: 'Add a node' }).click();
  const command = (await page.getByTestId('agent-command').textContent()) ?? '';
  expect(command).toMatch(/^curl -fsSL (\S+)\/install\.sh \| sudo sh -s -- --token tet_\S+$/);
  expect(command.split(' ')[2]).toBe(`${baseURL}/install.sh`);
  // The test panel calls itself http://127.0.0.1:PORT.
  await expect(page.getByTestId('public-url-warning')).toContainText('which other hosts cannot reach');
  await expect(page.getByTestId('agent-downloads-missing')).toContainText('then reload this page');
  await expect(page.getByTestId('enrolled-with-token')).toHaveText('No node can enroll until the agent is built (see above).');

  // What install.sh's `tula-agent enroll` sends.
  const token = /--token (\S+)/.exec(command)![1]!;
  const enroll = (name: string) => page.request.post('/api/agent/enroll', { data: { token, name, hostname: `${name}.example` } });
  expect((await enroll('edge-1')).status()).toBe(201);
  await expect(page.getByTestId('enrolled-with-token')).toHaveText('✓ Enrolled: edge-1 (1 of 2)');

  const row = page.getByTestId('enrollment-token');
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('1 of 2');
  await expect(row).toContainText('edge-1');
  // It asks first, naming the token.
  const prefix = `${token.slice(0, 10)}…`;
  await row.getByRole('button', { name: `Revoke ${prefix}` }).click();
  await page
    .getByRole('alertdialog', { name: `Revoke the enrollment token ${prefix}?` })
    .getByRole('button', { name: `Revoke ${prefix}` })
    .click();
  await expect(row).toHaveCount(0);
  // Revoked, its last use enrolls nothing.
  expect((await enroll('edge-2')).status()).toBe(401);
});
