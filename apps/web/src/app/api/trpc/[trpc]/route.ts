import { appRouter, createContext } from '@tula/api';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { CLIENT_ADDRESS_HEADER, panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

function handler(req: Request) {
  // Cookies authenticate; a request from another site's page is refused (CSRF).
  const origin = req.headers.get('origin');
  if (req.method === 'POST' && origin && origin !== new URL(panelRuntime().publicUrl).origin && origin !== new URL(req.url).origin) {
    return Response.json({ error: 'Cross-site requests are not allowed.' }, { status: 403 });
  }
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: () => createContext(panelRuntime(), req.headers, req.headers.get(CLIENT_ADDRESS_HEADER) ?? undefined),
    onError: ({ path, error }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') console.error(`trpc ${path ?? '?'}: ${error.message}`);
    },
  });
}

export { handler as GET, handler as POST };
