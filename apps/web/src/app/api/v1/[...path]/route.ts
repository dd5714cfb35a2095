import { handleHttpApi } from '@tula/api';
import { CLIENT_ADDRESS_HEADER, panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

function handler(req: Request) {
  return handleHttpApi(panelRuntime(), req, req.headers.get(CLIENT_ADDRESS_HEADER) ?? undefined);
}

export { handler as GET, handler as POST, handler as PUT, handler as DELETE };
