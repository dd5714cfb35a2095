import { describe, expect, it } from 'vitest';
import { ServiceInput } from './service.ts';

const problems = (input: unknown) => (ServiceInput.safeParse(input).error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);
const valid = {
  name: 'web',
  vip: '10.0.0.10',
  ports: '80',
  protocol: 'tcp',
  mode: 'l2',
  balancerNodeIds: ['n1'],
  backends: [{ address: '10.0.0.11' }],
};

describe('ServiceInput', () => {
  it('accepts a service with a balancer and a backend', () => {
    expect(problems(valid)).toEqual([]);
  });

  it('reports every problem at once, saying what is allowed', () => {
    const all = problems({
      ...valid,
      vip: 'nope',
      ports: '90-80',
      backends: [{ address: 'bad' }],
      healthCheck: { type: 'tcp', intervalMs: 100, timeoutMs: 500 },
    });
    expect(all).toEqual(
      expect.arrayContaining([
        'vip: must be an IPv4 or IPv6 address',
        'ports: first port must not exceed the last',
        'backends.0.address: must be an IPv4 or IPv6 address',
        'healthCheck.timeoutMs: must not exceed the interval',
      ]),
    );
    expect(problems({ ...valid, ports: '70000' })).toEqual(['ports: port 1-65535']);
    expect(problems({ ...valid, ports: 'http' })).toEqual(['ports: a port (1-65535) or a range like 8000-8100']);
    expect(problems({ ...valid, mode: 'nat', backends: [{ address: '10.0.0.11', port: 0 }] })).toEqual(['backends.0.port: port 1-65535']);
  });

  it('says the allowed range of every health check number and of a weight, in words', () => {
    const hc = { type: 'http', expectStatus: 99, intervalMs: 5, timeoutMs: 1, rise: 0, fall: 101 };
    expect(problems({ ...valid, backends: [{ address: '10.0.0.11', weight: 0 }], healthCheck: hc })).toEqual([
      'healthCheck.expectStatus: must be from 100 to 599',
      'healthCheck.intervalMs: must be from 100 to 3600000 ms',
      'healthCheck.timeoutMs: must be from 50 to 60000 ms',
      'healthCheck.rise: must be from 1 to 100',
      'healthCheck.fall: must be from 1 to 100',
      'backends.0.weight: must be from 1 to 1000',
    ]);
    expect(problems({ ...valid, healthCheck: { type: 'tcp', intervalMs: 2000.5 } })).toEqual([
      'healthCheck.intervalMs: must be a whole number from 100 to 3600000 ms',
    ]);
  });

  it('needs a balancer and a backend unless saved as a draft', () => {
    expect(problems({ ...valid, balancerNodeIds: [], backends: [] })).toEqual([
      'balancerNodeIds: choose at least one balancer node, or save it as a draft',
      'backends: add at least one backend, or save it as a draft',
    ]);
    expect(problems({ ...valid, balancerNodeIds: [], backends: [], draft: true })).toEqual([]);
  });
});
