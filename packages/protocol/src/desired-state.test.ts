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

const service = (over: Record<string, unknown>) => ({ name: 's', vip: '10.0.0.1', port: 80, protocol: 'tcp', mode: 'l2', backends: [], ...over });
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
          service({ name: 'a', port: undefined, ports: '8000-8100', protocol: 'udp', healthCheck: { type: 'udp', payload: 'ping', expect: 'pong' } }),
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
    ['an IPv6 backend behind a tunnel', service({ mode: 'l3', backends: [{ address: '2001:db8::2' }] }), "L3 tunnels need the backend's IPv4 address"],
    ['duplicate backends', service({ backends: [{ address: '10.0.0.2' }, { address: '10.0.0.02'.replace('02', '2') }] }), 'duplicate backend'],
    ['a timeout above the interval', service({ healthCheck: { type: 'tcp', intervalMs: 100, timeoutMs: 200 } }), 'must not exceed intervalMs'],
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
    const problems = problemsOf({ apiVersion: 'tula/v1', version: -1, balancer: { services: [service({ vip: 'nope', protocol: 'sctp' })] } });
    expect(problems).toHaveLength(3);
    expect(problems.map((p) => p.split(':')[0])).toEqual(['$.version', '$.balancer.services[0].vip', '$.balancer.services[0].protocol']);
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
