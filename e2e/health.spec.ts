import { expect, test } from './support/no-uncaught.ts';

test('the health page shows a healthy panel on its PostgreSQL server', async ({ page }) => {
  await page.goto('/health');
  await expect(page.getByRole('heading', { name: 'Control panel health' })).toBeVisible();
  await expect(page.getByTestId('health-status')).toHaveText('Healthy');
  await expect(page.getByTestId('health-database')).toContainText('PostgreSQL server (DATABASE_URL) — reachable');
  await expect(page.getByTestId('health-migrations')).not.toHaveText('0');
  await page.screenshot({ path: 'test-results/screenshots/health.png', fullPage: true });
});
