import { metricsText } from '@tula/gateway';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/** Prometheus metrics of the fleet and of this panel process. */
export async function GET() {
  const { db, gateway } = panelRuntime();
  return new Response(await metricsText(db, gateway), { headers: { 'content-type': 'text/plain; version=0.0.4' } });
}
