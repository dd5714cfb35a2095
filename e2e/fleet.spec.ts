// A fleet of more nodes than one page shows, in Debian's Chromium: the Fleet
// page pages, searches and filters on the server. The nodes are rows written
// straight into the test database (agents that never connected), so the page
// has 120 of them without 120 agent processes.
import { expect, test } from './support/no-uncaught.ts';
import pg from 'pg';
import { insertSimulatedNodes } from '../test/support/simulated-agents.ts';
import { signUp, uniqueEmail } from './support/app.ts';

test('a large fleet pages, searches and filters', async ({ page }) => {
  await signUp(page, uniqueEmail('fleet'));
  const summary = await page.request.get('/api/trpc/org.summary', { headers: { origin: new URL(page.url()).origin } });
  const orgId = ((await summary.json()) as { result: { data: { json: { id: string } } } }).result.data.json.id;
  const sql = new pg.Client({ connectionString: process.env.E2E_DATABASE_URL });
  await sql.connect();
  try {
    await insertSimulatedNodes(sql, orgId, 120);
  } finally {
    await sql.end();
  }

  await page.goto('/app/fleet');
  const table = page.getByRole('table', { name: 'Nodes' });
  const pages = page.getByRole('navigation', { name: 'Pages of nodes' });
  await expect(pages).toContainText('Nodes 1–50 of 120');
  await expect(table.getByRole('row')).toHaveCount(51);
  await expect(page.getByTestId('fleet-counts')).toContainText('0 of 120 nodes online');
  await expect(pages.getByRole('button', { name: 'Previous' })).toBeDisabled();
  await pages.getByRole('button', { name: 'Next' }).click();
  await expect(pages).toContainText('Nodes 51–100 of 120');
  await expect(table.getByRole('row').nth(1)).toContainText('sim000050');
  await pages.getByRole('button', { name: 'Next' }).click();
  await expect(pages).toContainText('Nodes 101–120 of 120');
  await expect(pages.getByRole('button', { name: 'Next' })).toBeDisabled();

  // A search starts again at its own first page and fits on one: no pager.
  await page.getByLabel('Search nodes').fill('SIM00011');
  await expect(table.getByRole('row')).toHaveCount(11);
  await expect(table.getByRole('row').nth(1)).toContainText('sim000110');
  await expect(pages).toHaveCount(0);

  // A filter that matches nothing says so, and offers the way back.
  await page.getByLabel('Search nodes').fill('');
  await page.getByLabel('Show').selectOption('online');
  await expect(page.getByText('No nodes match')).toBeVisible();
  await page.getByRole('button', { name: 'Show all nodes' }).click();
  await expect(pages).toContainText('Nodes 1–50 of 120');
});
