// Address helpers shared by panel, browser and agent. Pure; no Node built-ins.
import { z } from 'zod';

const v4 = z.ipv4();
const v6 = z.ipv6();
const isIPv4 = (s: string) => v4.safeParse(s).success;
const isIPv6 = (s: string) => v6.safeParse(s).success;

export type IpFamily = 4 | 6;

export function ipFamily(address: string): IpFamily {
  if (isIPv4(address)) return 4;
  if (isIPv6(address)) return 6;
  throw new Error(`not an IP address: ${address}`);
}

/** The 4 or 16 bytes of an address. */
export function ipBytes(address: string): number[] {
  if (isIPv4(address)) return address.split('.').map(Number);
  if (!isIPv6(address)) throw new Error(`not an IP address: ${address}`);
  let text = address;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function canonicalIp(address: string): string {
  const bytes = ipBytes(address);
  if (bytes.length === 4) return bytes.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Lower-case hex of the address bytes: a name-safe identity for an address. */
export function ipHex(address: string): string {
  return ipBytes(address)
    .map((b) => b.toString(16).padStart(2, '0'))
    .join('');
}

/** Whether `address` lies in `network`/`prefixLength` (same family only). */
export function ipInPrefix(address: string, network: string, prefixLength: number): boolean {
  const a = ipBytes(address);
  const n = ipBytes(network);
  if (a.length !== n.length) return false;
  for (let bit = 0; bit < prefixLength; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((a[byte]! & mask) !== (n[byte]! & mask)) return false;
  }
  return true;
}

/**
 * The one key of a backend within a service (`<service>|<canonical address>`):
 * health, unhealthy lists, drain times and the panel's failing map all use it.
 */
export const backendKey = (service: string, address: string) => `${service}|${address}`;

/** The one key of a neighbour entry: `<interface>|<canonical address>` -> MAC. */
export const neighbourKey = (ifname: string, address: string) => `${ifname}|${address}`;

/**
 * Whether a URL's host name can only mean this host (localhost, 127.0.0.0/8, ::1, the
 * unspecified address): other hosts cannot reach it, and traffic to it never leaves.
 * Not `*.localhost`: the agent trusts a loopback panel with plain http, and such a
 * name may resolve elsewhere.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || host === '0.0.0.0' || host === '::' || (isIPv4(host) && host.startsWith('127.'));
}

/** isLoopbackHost for a whole URL; false when it is not a URL. */
export function isLoopbackUrl(url: string): boolean {
  return URL.canParse(url) && isLoopbackHost(new URL(url).hostname);
}
