import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

function handler(req: Request) {
  return panelRuntime().auth.handler(req);
}

export { handler as GET, handler as POST };
