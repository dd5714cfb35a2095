import { sameHash, sha256 } from '@tula/control';
import { panelMetrics } from '@tula/gateway';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/** Built once per process, on the first authorised scrape. */
let metrics: ReturnType<typeof panelMetrics> | undefined;

/**
 * Prometheus metrics of this panel process, for the scrape token only
 * (TULA_METRICS_TOKEN as a bearer token; unset: 404, as if there were no such page).
 */
export async function GET(req: Request) {
  const { gateway, metricsTokenHash } = panelRuntime();
  if (!metricsTokenHash) return new Response('Not found\n', { status: 404 });
  const token = /^Bearer (\S+)$/.exec(req.headers.get('authorization') ?? '')?.[1];
  // Compared as fixed-length hashes in constant time: the comparison tells nothing about the token.
  if (!token || !sameHash(sha256(token), metricsTokenHash)) {
    return new Response('Unauthorized: send the scrape token (TULA_METRICS_TOKEN) as "Authorization: Bearer <token>".\n', {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="tula-metrics"' },
    });
  }
  metrics ??= panelMetrics(gateway);
  return new Response(await metrics.metrics(), { headers: { 'content-type': metrics.contentType, 'cache-control': 'no-store' } });
}
