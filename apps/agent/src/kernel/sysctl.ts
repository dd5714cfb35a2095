// Sysctls through /proc/sys (per network namespace). Keys are built from fixed
// parts and validated interface names only.
import { readdir, readFile, writeFile } from 'node:fs/promises';

const KEY =
  /^net\/ipv[46]\/(ip_forward|conf\/[A-Za-z0-9_.-]{1,15}\/(arp_ignore|arp_announce|rp_filter|forwarding|ndisc_notify|accept_ra))$/;

const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/** Interfaces with an IPv6 configuration, and `default` (for interfaces made later); not `all`, nor lo. */
export async function ipv6ConfNames(): Promise<string[]> {
  const names = await readdir('/proc/sys/net/ipv6/conf').catch(() => [] as string[]);
  return names.filter((n) => n !== 'all' && n !== 'lo' && INTERFACE.test(n)).sort();
}

function path(key: string): string {
  if (!KEY.test(key)) throw new Error(`refusing sysctl key ${JSON.stringify(key)}`);
  return `/proc/sys/${key}`;
}

export async function readSysctl(key: string): Promise<string> {
  return (await readFile(path(key), 'utf8')).trim();
}

export async function writeSysctl(key: string, value: string): Promise<void> {
  if (!/^\d+$/.test(value)) throw new Error(`refusing sysctl value ${JSON.stringify(value)}`);
  await writeFile(path(key), `${value}\n`);
}
