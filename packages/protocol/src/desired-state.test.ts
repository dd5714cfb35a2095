import { describe, expect, it } from 'vitest';
import { canonicalIp, ipInPrefix } from './ip.ts';
import { parseDesiredState } from './desired-state.ts';

// The v1 example from the public format's definition; it must keep working.
const EXAMPLE = {
  apiVersion: 'tula/v1',
  version: 7,
  balancer: {
    services: [
      {
        name: 'web',
        vip: '10.213.0.50',
        port: 80,
        protocol: 'tcp',
        mode: 'l2',
        tunnel: 'ipip',
        interface: 'eth0',
        healthCheck: { type: 'tcp', port: 80, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 },
        backends: [{ address: '10.213.0.11', weight: 1, state: 'active' }],
      },
    ],
  },
  backend: { vips: [{ vip: '10.213.0.50', mode: 'l3', tunnel: 'vxlan', balancers: ['10.213.0.2'], mss: 1360 }] },
};

const service = (over: Record<string, unknown>) => ({
  name: 's',
  vip: '10.0.0.1',
  port: 80,
  protocol: 'tcp',
  mode: 'l2',
  backends: [],
  ...over,
});
const problemsOf = (doc: unknown) => {
  const r = parseDesiredState(doc);
  return r.ok ? [] : r.problems.map((p) => `${p.path}: ${p.message}`);
};
const withServices = (...services: unknown[]) => ({ apiVersion: 'tula/v1', version: 1, balancer: { services } });

describe('desired state v1', () => {
  it('accepts the documented example and fills defaults', () => {
    const r = parseDesiredState(EXAMPLE);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value.balancer!.services[0]!.drainTimeoutS).toBe(300);
      expect(r.value.balancer!.services[0]!.scheduler).toBe('maglev');
    }
  });

  it('accepts port ranges, UDP checks and IPv6 VIPs', () => {
    expect(
      problemsOf(
        withServices(
          service({
            name: 'a',
            port: undefined,
            ports: '8000-8100',
            protocol: 'udp',
            healthCheck: { type: 'udp', payload: 'ping', expect: 'pong' },
          }),
          service({ name: 'b', vip: '2001:db8::1', mode: 'l3', tunnel: 'gre', backends: [{ address: '192.0.2.1' }] }),
        ),
      ),
    ).toEqual([]);
  });

  it.each([
    ['neither port nor ports', service({ port: undefined }), '$.balancer.services[0].port: give exactly one of "port" and "ports"'],
    ['both port and ports', service({ ports: '1-2' }), '$.balancer.services[0].port: give exactly one of "port" and "ports"'],
    ['a reversed range', service({ port: undefined, ports: '90-80' }), '$.balancer.services[0].ports'],
    ['ipip with an IPv6 VIP', service({ vip: '2001:db8::1', mode: 'l3' }), 'ipip carries IPv4 only'],
    ['a port change in DSR', service({ backends: [{ address: '10.0.0.2', port: 8080 }] }), 'DSR cannot change the destination port'],
    [
      'an IPv6 backend behind a tunnel',
      service({ mode: 'l3', backends: [{ address: '2001:db8::2' }] }),
      "L3 tunnels need the backend's IPv4 address",
    ],
    [
      'duplicate backends',
      service({ backends: [{ address: '10.0.0.2' }, { address: '10.0.0.02'.replace('02', '2') }] }),
      'duplicate backend',
    ],
    [
      'a timeout above the interval',
      service({ healthCheck: { type: 'tcp', intervalMs: 100, timeoutMs: 200 } }),
      'must not exceed intervalMs',
    ],
    ['an unknown field (a typo)', service({ heathCheck: {} }), 'heathCheck'],
    ['a bad interface name', service({ interface: 'eth0; flush ruleset' }), 'must be a Linux interface name'],
  ])('rejects %s', (_, svc, expected) => {
    expect(problemsOf(withServices(svc)).join('\n')).toContain(expected);
  });

  it('rejects overlapping listeners and duplicate names across services', () => {
    const problems = problemsOf(withServices(service({ name: 'a', port: undefined, ports: '80-90' }), service({ name: 'a', port: 85 })));
    expect(problems.join('\n')).toContain('duplicate service name "a"');
    expect(problems.join('\n')).toContain('overlap services[0]');
  });

  it('lists every problem, each with its JSON path', () => {
    const problems = problemsOf({
      apiVersion: 'tula/v1',
      version: -1,
      balancer: { services: [service({ vip: 'nope', protocol: 'sctp' })] },
    });
    expect(problems).toHaveLength(3);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['$.version', '$.balancer.services[0].vip', '$.balancer.services[0].protocol']);
  });
});

describe('announcement settings', () => {
  const bgp = {
    localAsn: 65001,
    routerId: '10.99.0.2',
    peers: [{ address: '10.99.0.1', asn: 65000, password: 's3cret!', holdTimeS: 9, bfd: true }],
    bfd: { intervalMs: 100, multiplier: 3 },
  };
  const vrrp = { interface: 'eth0', virtualRouterId: 51, priority: 150, advertIntervalMs: 1000 };
  const withAnnounce = (announce: unknown, services: unknown[] = [service({})]) => ({
    apiVersion: 'tula/v1',
    version: 1,
    balancer: { services, announce, draining: false },
  });

  it('accepts BGP and VRRP settings and fills their defaults', () => {
    const r = parseDesiredState(
      withAnnounce({
        bgp: { ...bgp, peers: [{ address: '2001:db8::1', asn: 4_200_000_000 }], bfd: {} },
        vrrp: { ...vrrp, advertIntervalMs: undefined },
      }),
    );
    expect(r.ok ? [] : r.problems).toEqual([]);
    if (!r.ok) return;
    const announce = r.value.balancer!.announce!;
    expect(announce.bgp!.peers[0]).toEqual({ address: '2001:db8::1', asn: 4_200_000_000, holdTimeS: 90, bfd: false });
    expect(announce.bgp!.bfd).toEqual({ intervalMs: 100, multiplier: 3 });
    expect(announce.vrrp!.advertIntervalMs).toBe(1000);
  });

  it.each([
    ['AS 0', { bgp: { ...bgp, localAsn: 0 } }, '$.balancer.announce.bgp.localAsn: must be an AS number from 1 to 4294967294'],
    [
      'a peer ASN beyond 32 bits',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], asn: 4_294_967_296 }] } },
      '$.balancer.announce.bgp.peers[0].asn: must be an AS number from 1 to 4294967294',
    ],
    [
      'AS_TRANS',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], asn: 23456 }] } },
      '$.balancer.announce.bgp.peers[0].asn: AS 23456 (AS_TRANS) is reserved',
    ],
    [
      'a router id that is not IPv4',
      { bgp: { ...bgp, routerId: '2001:db8::2' } },
      '$.balancer.announce.bgp.routerId: must be an IPv4 address',
    ],
    ['no peers', { bgp: { ...bgp, peers: [] } }, '$.balancer.announce.bgp.peers: give at least one peer'],
    [
      'a peer that is not an address',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], address: 'router1' }] } },
      '$.balancer.announce.bgp.peers[0].address: must be an IPv4 or IPv6 address',
    ],
    [
      'a password that could break the daemon config',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], password: 'a";}' }] } },
      '$.balancer.announce.bgp.peers[0].password: must be 1-80 printable ASCII',
    ],
    [
      'a hold time below 3 s',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], holdTimeS: 1 }] } },
      '$.balancer.announce.bgp.peers[0].holdTimeS: must be from 3 to 65535 seconds',
    ],
    [
      'a duplicate peer',
      { bgp: { ...bgp, peers: [bgp.peers[0], { ...bgp.peers[0], asn: 65002 }] } },
      '$.balancer.announce.bgp.peers[1].address: duplicate peer',
    ],
    ['a VRRP priority of 0', { vrrp: { ...vrrp, priority: 0 } }, '$.balancer.announce.vrrp.priority: must be from 1 to 254'],
    [
      'a VRRP priority of 255',
      { vrrp: { ...vrrp, priority: 255 } },
      '$.balancer.announce.vrrp.priority: must be from 1 to 254 (255 is reserved for the address owner)',
    ],
    [
      'a virtual router id of 256',
      { vrrp: { ...vrrp, virtualRouterId: 256 } },
      '$.balancer.announce.vrrp.virtualRouterId: must be from 1 to 255',
    ],
    [
      'an advert interval VRRPv3 cannot carry',
      { vrrp: { ...vrrp, advertIntervalMs: 1005 } },
      '$.balancer.announce.vrrp.advertIntervalMs: must be a multiple of 10 ms',
    ],
    [
      'a bad VRRP interface',
      { vrrp: { ...vrrp, interface: 'eth0 }' } },
      '$.balancer.announce.vrrp.interface: must be a Linux interface name',
    ],
    ['an unknown announcement field', { ospf: {} }, 'ospf'],
  ])('rejects %s', (_, announce, expected) => {
    expect(problemsOf(withAnnounce(announce)).join('\n')).toContain(expected);
  });

  it('rejects an L2 VIP on an interface VRRP does not run on', () => {
    expect(problemsOf(withAnnounce({ vrrp }, [service({ interface: 'eth1' })])).join('\n')).toContain(
      '$.balancer.services[0].interface: VRRP runs on eth0',
    );
  });
});

describe('addresses', () => {
  it('canonicalises IPv6 as RFC 5952 does', () => {
    expect(canonicalIp('2001:0DB8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('::')).toBe('::');
    expect(canonicalIp('10.0.0.1')).toBe('10.0.0.1');
  });
  it('tests prefix membership', () => {
    expect(ipInPrefix('10.0.1.5', '10.0.0.0', 23)).toBe(true);
    expect(ipInPrefix('10.0.2.5', '10.0.0.0', 23)).toBe(false);
    expect(ipInPrefix('2001:db8::5', '2001:db8::', 64)).toBe(true);
    expect(ipInPrefix('10.0.0.1', '2001:db8::', 0)).toBe(false);
  });
});
