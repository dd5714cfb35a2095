import { sameHash, sha256 } from '@tula/control';
import { metricsText } from '@tula/gateway';
import { panelRuntime } from '~/server/runtime';

export const dynamic = 'force-dynamic';

/**
 * Prometheus metrics of this panel process, for the scrape token only
 * (TULA_METRICS_TOKEN as a bearer token; unset: 404, as if there were no such page).
 */
export function GET(req: Request) {
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
  return new Response(metricsText(gateway), { headers: { 'content-type': 'text/plain; version=0.0.4', 'cache-control': 'no-store' } });
}
