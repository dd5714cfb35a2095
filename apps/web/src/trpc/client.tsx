'use client';

import type { AppRouter } from '@tula/api';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink, TRPCClientError } from '@trpc/client';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import { useState, type ReactNode } from 'react';
import superjson from 'superjson';

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export function ApiProvider({ children }: { children: ReactNode }) {
  const [queryClient] = useState(
    () =>
      new QueryClient({
        defaultOptions: {
          queries: {
            staleTime: 5_000,
            refetchOnWindowFocus: true,
            // Retry what may pass next time (network, server errors), not answers like "not found".
            retry: (failures, error) =>
              failures < 2 &&
              !(error instanceof TRPCClientError && ['NOT_FOUND', 'FORBIDDEN', 'UNAUTHORIZED', 'BAD_REQUEST'].includes(error.data?.code)),
          },
        },
      }),
  );
  const [trpcClient] = useState(() =>
    createTRPCClient<AppRouter>({
      links: [
        splitLink({
          condition: (op) => op.type === 'subscription',
          // Live updates over server-sent events; the session cookie goes along (same origin).
          true: httpSubscriptionLink({ url: '/api/trpc', transformer: superjson }),
          false: httpBatchLink({ url: '/api/trpc', transformer: superjson }),
        }),
      ],
    }),
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        {children}
      </TRPCProvider>
    </QueryClientProvider>
  );
}

/** Field problems the API reported ("backends.0.address" -> message). */
export function fieldErrors(error: unknown): Record<string, string> {
  if (error instanceof TRPCClientError) {
    const fields = (error.data as { fields?: Record<string, string> } | undefined)?.fields;
    if (fields) return fields;
  }
  return {};
}

/** A sentence a person can act on, from any API error. */
export function errorMessage(error: unknown): string {
  // No answer at all (tRPC wraps the browser's "Failed to fetch" without data): the network or the panel is down.
  const unanswered = error instanceof Error && !(error instanceof TRPCClientError && error.data) && /fetch/i.test(error.message);
  if (unanswered) return 'The panel could not be reached. Check your connection and try again.';
  if (error instanceof TRPCClientError) {
    if (error.data?.code === 'UNAUTHORIZED') return 'Your session ended: sign in again.';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
