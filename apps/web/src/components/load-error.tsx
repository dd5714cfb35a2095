'use client';

// A query that failed, said the same way on every page. A background refresh that
// fails (the panel restarting, the network gone a moment) must not take the page
// away: react-query keeps the last data, so the page keeps drawing it and this
// banner says it is not current, since when, that it retries, and offers Retry.
// Only when there never was data does it stand in for the page.
import { errorMessage } from '~/trpc/client';
import { Button } from './ui';

interface FailedQuery {
  error: unknown;
  data: unknown;
  /** When the data on screen was loaded (ms; 0: never). */
  dataUpdatedAt: number;
  isFetching: boolean;
  refetch: () => unknown;
}

export function LoadError({
  query,
  what,
  everySeconds,
}: {
  query: FailedQuery;
  /** What failed to load, as it reads after "Could not load": "this node", "the services". */
  what: string;
  /** The query's refetch interval, if it has one: it retries that often by itself. */
  everySeconds?: number;
}) {
  if (!query.error) return null;
  const stale = query.data !== undefined;
  const reason = errorMessage(query.error).replace(/\.?$/, '.');
  const retries = everySeconds ? `It retries every ${everySeconds} s` : 'It retries when the network comes back or you return to this tab';
  return (
    <div
      role="alert"
      data-testid={stale ? 'refresh-failed' : 'load-failed'}
      className={`flex flex-wrap items-center justify-between gap-2 rounded-md border p-3 text-sm ${
        stale ? 'border-amber-200 bg-amber-50 text-amber-900' : 'border-red-200 bg-red-50 text-red-800'
      }`}
    >
      <p className="min-w-0 break-words">
        {stale ? (
          <>
            <strong>Could not refresh {what}:</strong> {reason} This shows what was loaded at{' '}
            {new Date(query.dataUpdatedAt).toLocaleTimeString()}. {retries}, or retry now.
          </>
        ) : (
          <>
            <strong>Could not load {what}:</strong> {reason} {retries}, or retry now; if it keeps failing, check that the panel is running
            and reachable.
          </>
        )}
      </p>
      <Button variant="secondary" className="px-2 py-1 text-xs" busy={query.isFetching} onClick={() => void query.refetch()}>
        Retry
      </Button>
    </div>
  );
}
