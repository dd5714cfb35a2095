import { createCaller } from '@tula/api';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/**
 * Plain JSON health for load balancers and container health checks: 200 when the database answers.
 * `?wait=lab` also answers 503 while the local lab is still being built, for callers that
 * must not start before it settles (the browser tests: building it adds network links that
 * make Chromium abort page loads with ERR_NETWORK_CHANGED).
 */
export async function GET(request: Request) {
  const caller = createCaller({ ...panelRuntime(), user: null, org: null });
  const status = await caller.health.status();
  const waitForLab = new URL(request.url).searchParams.get('wait') === 'lab';
  const ready = status.ok && !(waitForLab && status.lab?.state === 'starting');
  return Response.json(status, { status: ready ? 200 : 503 });
}
