// Reads what the model needs from the host: interfaces, where each VIP's traffic
// arrives, and backend MACs from the neighbour table (probing to fill it).
import { createSocket } from 'node:dgram';
import { canonicalIp, ipFamily, ipInPrefix, neighbourKey, type DesiredState } from '@tula/protocol';
import type { HostFacts } from '@tula/nft';
import { addresses, defaultRouteDevice, links, neighbours, routeGet, type IfAddress } from '../kernel/ip.ts';

export class FactsError extends Error {
  override name = 'FactsError';
}

const UNUSABLE_NEIGHBOUR = new Set(['FAILED', 'INCOMPLETE']);

/** Makes the kernel resolve an address: any datagram to it starts ARP or neighbour discovery. */
function probe(address: string): Promise<void> {
  return new Promise((resolve) => {
    const sock = createSocket(ipFamily(address) === 4 ? 'udp4' : 'udp6');
    sock.on('error', () => {
      sock.close();
      resolve();
    });
    // The discard port; nothing needs to answer.
    sock.send(Buffer.alloc(0), 9, address, () => {
      sock.close();
      resolve();
    });
  });
}

async function neighbourMacs(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const n of await neighbours()) {
    if (!n.dev || !n.lladdr || n.state.some((s) => UNUSABLE_NEIGHBOUR.has(s))) continue;
    out[`${n.dev}|${canonicalIp(n.dst)}`] = n.lladdr.toLowerCase();
  }
  return out;
}

/** The interface VIP traffic arrives on: the one whose subnet holds the VIP, else the route to it. */
async function ingressInterface(vip: string, addrs: IfAddress[]): Promise<string> {
  const fam = ipFamily(vip);
  const onLink = addrs.find(
    (a) =>
      a.ifname !== 'lo' &&
      ipFamily(a.address) === fam &&
      a.prefixLength < (fam === 4 ? 32 : 128) &&
      ipInPrefix(vip, a.address, a.prefixLength),
  );
  if (onLink) return onLink.ifname;
  const route = await routeGet(vip);
  if (route?.dev && route.dev !== 'lo') return route.dev;
  const fallback = await defaultRouteDevice(fam);
  if (fallback) return fallback;
  throw new FactsError(`cannot tell which interface VIP ${vip} arrives on: set "interface" on the service`);
}

export interface GatherOptions {
  /** Probe unresolved backends and wait briefly for the neighbour table. */
  probe: boolean;
  /** The host's addresses, when the caller reads them for other steps too (else read here, if needed). */
  addresses?: () => Promise<IfAddress[]>;
}

export async function gatherFacts(state: DesiredState, options: GatherOptions): Promise<Omit<HostFacts, 'unhealthy' | 'previousIds'>> {
  const linkList = await links();
  const interfaces: HostFacts['interfaces'] = {};
  for (const l of linkList) if (l.address) interfaces[l.ifname] = { mac: l.address.toLowerCase() };

  const serviceInterfaces: Record<string, string> = {};
  const services = state.balancer?.services ?? [];
  // Read only for a service without "interface": a balancer may hold 10,000 addresses.
  const readAddresses = options.addresses ?? addresses;
  for (const s of services) {
    const ifname = s.interface ?? (await ingressInterface(canonicalIp(s.vip), await readAddresses()));
    if (!interfaces[ifname]) throw new FactsError(`service ${s.name}: interface ${ifname} does not exist on this host`);
    serviceInterfaces[s.name] = ifname;
  }

  let macs = await neighbourMacs();
  const missing = services
    .filter((s) => s.mode === 'l2')
    .flatMap((s) => s.backends.filter((b) => !b.mac).map((b) => ({ ifname: serviceInterfaces[s.name]!, address: canonicalIp(b.address) })))
    .filter((b) => !macs[neighbourKey(b.ifname, b.address)]);
  if (options.probe && missing.length > 0) {
    await Promise.all([...new Set(missing.map((m) => m.address))].map(probe));
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      macs = await neighbourMacs();
      if (missing.every((b) => macs[neighbourKey(b.ifname, b.address)])) break;
    }
  }
  // Only what the model reads, in the document's order: a change elsewhere on the
  // host (a new neighbour, another link) is not a new input to converge to.
  const used: HostFacts['interfaces'] = {};
  for (const ifname of Object.values(serviceInterfaces)) used[ifname] = interfaces[ifname]!;
  const backendMacs: Record<string, string> = {};
  for (const s of services) {
    if (s.mode !== 'l2') continue;
    for (const b of s.backends) {
      const key = `${serviceInterfaces[s.name]}|${canonicalIp(b.address)}`;
      if (macs[key]) backendMacs[key] = macs[key];
    }
  }
  return { interfaces: used, serviceInterfaces, neighbours: backendMacs };
}
