// keepalived's configuration for a balancer: one VRRPv3 instance on the VRRP
// interface owning every L2 and NAT VIP of the balancer (IPv6 ones ride along
// as excluded addresses, so one instance covers both families). Every
// balancer starts as BACKUP with nopreempt: the first to win keeps the VIPs
// until it dies or steps down, so a returning balancer does not take them back
// (one owner change per failure, not two). keepalived wants each block on its
// own lines. Pure; every value was validated by the desired-state schema.
import { ipFamily, type VrrpAnnouncement } from '@tula/protocol';

export interface KeepalivedInput {
  vrrp: VrrpAnnouncement;
  /** Canonical VIPs this instance owns when it is the master. */
  vips: string[];
}

export function renderKeepalivedConfig({ vrrp, vips }: KeepalivedInput): string {
  const v4 = vips.filter((v) => ipFamily(v) === 4);
  const v6 = vips.filter((v) => ipFamily(v) === 6);
  const block = (name: string, addresses: string[], prefix: number) =>
    addresses.length ? [`  ${name} {`, ...addresses.map((a) => `    ${a}/${prefix} dev ${vrrp.interface}`), '  }'] : [];
  return [
    '# Written by tula-agent: edits are overwritten.',
    'global_defs {',
    '  router_id tula',
    '  vrrp_version 3',
    '}',
    '',
    'vrrp_instance tula {',
    '  state BACKUP',
    '  nopreempt',
    `  interface ${vrrp.interface}`,
    `  virtual_router_id ${vrrp.virtualRouterId}`,
    `  priority ${vrrp.priority}`,
    `  advert_int ${(vrrp.advertIntervalMs / 1000).toString()}`,
    ...block('virtual_ipaddress', v4.length ? v4 : v6, v4.length ? 32 : 128),
    ...(v4.length ? block('virtual_ipaddress_excluded', v6, 128) : []),
    '}',
    '',
  ].join('\n');
}
