// What the agent tells the panel about its host: addresses and kernel capabilities.
import { hostname, release } from 'node:os';
import type { Capabilities } from '@tula/protocol';
import { run } from '../exec.ts';
import { addresses } from '../kernel/ip.ts';

/** Global unicast addresses of the host's interfaces (not lo, not Tula's tunnel devices). */
export async function hostAddresses(): Promise<string[]> {
  const all = await addresses().catch(() => []);
  return all
    .filter((a) => a.ifname !== 'lo' && !a.ifname.startsWith('tula-'))
    .map((a) => a.address)
    .filter((a) => !a.startsWith('127.') && !a.startsWith('169.254.') && !/^fe80:/i.test(a) && a !== '::1');
}

/** Tunnel types the kernel can create, tried in a throwaway network namespace. */
async function tunnelTypes(): Promise<Capabilities['tunnels']> {
  const out: Capabilities['tunnels'] = [];
  for (const t of ['ipip', 'gre', 'vxlan'] as const) {
    const args = t === 'vxlan' ? ['type', 'vxlan', 'external', 'dstport', '4789'] : ['type', t, 'external'];
    const r = await run(['unshare', '-n', 'ip', 'link', 'add', 'probe0', ...args], { allowFailure: true }).catch(() => undefined);
    if (r?.code === 0) out.push(t);
  }
  return out;
}

export async function capabilities(dryRun: boolean): Promise<Capabilities> {
  const nft = await run(['nft', '--version'], { allowFailure: true }).catch(() => undefined);
  const root = process.getuid?.() === 0;
  const usable = !dryRun && root && nft?.code === 0;
  return {
    tunnels: usable ? await tunnelTypes() : [],
    nftVersion: nft?.code === 0 ? (nft.stdout.trim().split(/\s+/)[1] ?? null) : null,
    kernel: release(),
    canBalance: usable || dryRun,
    canServe: usable || dryRun,
  };
}

export const hostName = () => hostname();
