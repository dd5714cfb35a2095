import { createCaller } from '@tula/api';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/** Plain JSON health for load balancers and container health checks: 200 when the database answers. */
export async function GET() {
  const caller = createCaller({ ...panelRuntime(), user: null, org: null });
  const status = await caller.health.status();
  return Response.json(status, { status: status.ok ? 200 : 503 });
}
