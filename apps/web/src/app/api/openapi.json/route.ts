import { openApiDocument } from '@tula/api';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/** The HTTP API's OpenAPI 3.1 document (public: it describes routes, not data). */
export function GET() {
  return Response.json(openApiDocument(panelRuntime().publicUrl));
}
