// The one definition of "client address" that every limit counts (sign-up,
// sign-in, password reset, enrollment, invitations, agent connections): the
// socket's peer, unless that peer is a configured reverse proxy
// (TULA_TRUSTED_PROXIES), in which case the nearest hop it forwarded for that
// is not itself a trusted proxy. Forwarding headers from anyone else are ignored:
// they are free text.
import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly cidrs: readonly string[];

  /** `text`: comma- or space-separated addresses and CIDR ranges; throws on anything else. */
  constructor(text = '') {
    this.cidrs = text.split(/[\s,]+/).filter(Boolean);
    for (const cidr of this.cidrs) {
      const [address = '', prefix, extra] = cidr.split('/');
      const family = isIP(address);
      const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
      if (!family || extra !== undefined || !/^\d*$/.test(prefix ?? '') || bits > (family === 6 ? 128 : 32)) {
        throw new Error(`TULA_TRUSTED_PROXIES: "${cidr}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, ::1)`);
      }
      this.list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
    }
  }

  has(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** `::ffff:192.0.2.1` is 192.0.2.1; anything that is not an address is ''. */
function normalize(address: string | undefined): string {
  const a = (address ?? '').trim().toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a)?.[1];
  if (mapped) return mapped;
  return isIP(a) ? a : '';
}

/** The hops a Forwarded header (RFC 7239) lists, nearest last: `for=` values without port or brackets. */
function forwardedFor(header: string): string[] {
  return header.split(',').map((element) => {
    const value = /(?:^|;)\s*for\s*=\s*"?([^";]*)"?/i.exec(element)?.[1]?.trim() ?? '';
    const bracketed = /^\[([^\]]+)\]/.exec(value)?.[1];
    if (bracketed) return bracketed;
    return /^\d+\.\d+\.\d+\.\d+:\d+$/.test(value) ? value.split(':')[0]! : value;
  });
}

export function clientAddress(peer: string | undefined, headers: IncomingHttpHeaders, proxies: TrustedProxies): string {
  let client = normalize(peer);
  if (!client || !proxies.has(client)) return client || 'unknown';
  const xff = headers['x-forwarded-for'];
  const forwarded = headers.forwarded;
  const hops = xff ? (Array.isArray(xff) ? xff.join(',') : xff).split(',') : forwarded ? forwardedFor(forwarded) : [];
  // From the nearest hop outwards: each trusted proxy vouches for the hop before it.
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalize(hops[i]);
    if (!hop) break; // garbage or "unknown": the last hop a trusted proxy vouched for stands
    client = hop;
    if (!proxies.has(hop)) break;
  }
  return client;
}

/**
 * The key a limit counts for an address: IPv6 by /64 (one subscriber's
 * allocation, as better-auth also counts), IPv4 as it is.
 */
export function limitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
