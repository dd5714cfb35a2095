import { enroll } from '@tula/gateway';
import { CLIENT_ADDRESS_HEADER, panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

export function POST(req: Request) {
  return enroll(panelRuntime(), req, req.headers.get(CLIENT_ADDRESS_HEADER) ?? 'unknown');
}
