// A node whose agent is older than the panel is marked outdated on the Fleet list
// and its page; "Upgrade agent" asks in a labelled dialog, then shows the upgrade
// under way, and a failure reported by the agent with its reason.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TULA_VERSION } from '@tula/protocol';
import { signUp, uniqueEmail } from './support/app.ts';
import { expect, test } from './support/no-uncaught.ts';

test('an outdated agent is marked, and upgrading it asks first and shows how it went', async ({ page }) => {
  await signUp(page, uniqueEmail('upgrade'));
  const summary = await page.request.get('/api/trpc/org.summary', { headers: { origin: new URL(page.url()).origin } });
  const orgId = ((await summary.json()) as { result: { data: { json: { id: string } } } }).result.data.json.id;
  const nodeId = `up${randomBytes(6).toString('hex')}`;
  const sql = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await sql.connect();
  try {
    await sql.query(
      `INSERT INTO "Node" (id, "organizationId", name, role, "credentialHash", "agentVersion") VALUES ($1, $2, 'up-lb1', 'both', $3, '0.0.1')`,
      [nodeId, orgId, randomBytes(32).toString('hex')],
    );

    await page.goto('/app/fleet');
    const row = page.getByRole('row', { name: /up-lb1/ });
    await expect(row.getByText(`outdated: panel is ${TULA_VERSION}`)).toBeVisible();

    await page.goto(`/app/fleet/${nodeId}`);
    const upgrade = page.getByRole('button', { name: 'Upgrade agent' });
    await upgrade.click();
    const dialog = page.getByRole('alertdialog', { name: `Upgrade the agent on up-lb1 to ${TULA_VERSION}?` });
    await expect(dialog).toBeVisible();
    await expect(dialog).toContainText('checks its SHA-256');
    await expect(dialog).toContainText('The node is offline: it upgrades when it next connects.');
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    // Cancelled: nothing was asked of the node.
    expect((await sql.query(`SELECT "upgradeRequestedAt" FROM "Node" WHERE id = $1`, [nodeId])).rows[0].upgradeRequestedAt).toBeNull();

    await upgrade.click();
    await dialog.getByRole('button', { name: 'Upgrade up-lb1' }).click();
    await expect(page.getByRole('status').filter({ hasText: `Upgrading to ${TULA_VERSION}: upgrade requested` })).toBeVisible();
    expect((await sql.query(`SELECT "upgradeRequestedAt" FROM "Node" WHERE id = $1`, [nodeId])).rows[0].upgradeRequestedAt).not.toBeNull();
    const audit = await sql.query(`SELECT data FROM "AuditEvent" WHERE "targetId" = $1 AND action = 'node.upgrade'`, [nodeId]);
    expect(audit.rows.map((r: { data: unknown }) => r.data)).toEqual([{ from: '0.0.1', to: TULA_VERSION }]);

    // What the gateway records when the agent reports a failure.
    const failure = 'the download does not match the SHA-256 the panel sent (expected aa, got bb): altered or cut short on the way';
    await sql.query(`UPDATE "Node" SET "upgradeRequestedAt" = NULL, "upgradeStatus" = $2 WHERE id = $1`, [
      nodeId,
      { state: 'failed', target: TULA_VERSION, message: failure, at: new Date().toISOString() },
    ]);
    await expect(page.getByRole('status').filter({ hasText: `Upgrade to ${TULA_VERSION} failed` })).toContainText(failure);
    await expect(page.getByText('upgrade failed').first()).toBeVisible();
    // It can be asked again.
    await expect(upgrade).toBeEnabled();
  } finally {
    await sql.end();
  }
});
