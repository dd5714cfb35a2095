// The daemon configurations are pure functions of validated settings: golden
// files pin them, and the daemons themselves (bird -p, keepalived -t) accept
// every one where they are installed.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { parseDesiredState, type DesiredState, type DesiredStateInput } from '@tula/protocol';
import type { DataplaneModel } from '@tula/nft';
import { describe, expect, it } from 'vitest';
import { parseProtocols } from './bird.ts';
import { renderBirdConfig } from './bird-config.ts';
import { renderKeepalivedConfig } from './keepalived-config.ts';
import { vipFitness } from './plan.ts';

const run = promisify(execFile);
const golden = (name: string) => new URL(`./golden/${name}`, import.meta.url).pathname;
const has = async (cmd: string[]) =>
  run(cmd[0]!, cmd.slice(1)).then(
    () => true,
    () => false,
  );

function parse(input: DesiredStateInput): DesiredState {
  const r = parseDesiredState(input);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

const BGP = {
  localAsn: 65001,
  routerId: '10.99.0.2',
  peers: [
    { address: '10.99.0.1', asn: 65000, password: 'tula-peer!1', holdTimeS: 9, bfd: true },
    { address: 'fd00:99::1', asn: 4_200_000_000 },
  ],
  bfd: { intervalMs: 50, multiplier: 4 },
};
const VRRP = { interface: 'e0', virtualRouterId: 51, priority: 150, advertIntervalMs: 100 };

const CASES: Record<string, { render: () => string; check: string[] }> = {
  'bgp.bird.conf': {
    render: () =>
      renderBirdConfig({
        bgp: parse({ apiVersion: 'tula/v1', version: 1, balancer: { services: [], announce: { bgp: BGP } } }).balancer!.announce!.bgp!,
        vips: ['10.97.0.100', '10.97.0.101', 'fd00:97::100'],
      }),
    check: ['bird', '-p', '-c'],
  },
  'bgp-withdrawn.bird.conf': {
    render: () =>
      renderBirdConfig({
        bgp: parse({ apiVersion: 'tula/v1', version: 1, balancer: { services: [], announce: { bgp: { ...BGP, peers: [BGP.peers[1]!] } } } })
          .balancer!.announce!.bgp!,
        vips: [],
      }),
    check: ['bird', '-p', '-c'],
  },
  'vrrp.keepalived.conf': {
    render: () => renderKeepalivedConfig({ vrrp: { ...VRRP }, vips: ['10.99.0.100', 'fd00:99::100'] }),
    check: ['keepalived', '-t', '-f'],
  },
  'vrrp-v6.keepalived.conf': {
    render: () => renderKeepalivedConfig({ vrrp: { ...VRRP, advertIntervalMs: 1000 }, vips: ['fd00:99::100'] }),
    check: ['keepalived', '-t', '-f'],
  },
};

describe('daemon configurations', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name} renders as recorded (UPDATE_GOLDEN=1 rewrites)`, () => {
      const text = c.render();
      if (process.env.UPDATE_GOLDEN) writeFileSync(golden(name), text);
      expect(text).toBe(readFileSync(golden(name), 'utf8'));
    });
  }

  it('bird accepts every BGP configuration (bird -p)', async (ctx) => {
    ctx.skip(!(await has(['bird', '--version'])), 'bird2 is not installed (apt-get install bird2)');
    for (const [name, c] of Object.entries(CASES)) if (c.check[0] === 'bird') await run('bird', ['-p', '-c', golden(name)]);
  });

  it('keepalived accepts every VRRP configuration (keepalived -t, in a namespace with e0)', async (ctx) => {
    ctx.skip(process.getuid?.() !== 0, 'needs root for a scratch network namespace');
    ctx.skip(!(await has(['keepalived', '--version'])), 'keepalived is not installed (apt-get install keepalived)');
    const ns = `tula-kat-${process.pid}`;
    await run('ip', ['netns', 'add', ns]);
    try {
      await run('ip', ['-n', ns, 'link', 'add', 'e0', 'type', 'veth', 'peer', 'name', 'e1']);
      for (const [name, c] of Object.entries(CASES)) {
        if (c.check[0] !== 'keepalived') continue;
        const r = await run('ip', ['netns', 'exec', ns, 'keepalived', '-t', '-f', golden(name)]).catch((e: { stderr: string }) => ({
          stderr: e.stderr,
          failed: true,
        }));
        expect(r, `${name}: ${r.stderr}`).not.toHaveProperty('failed');
      }
    } finally {
      await run('ip', ['netns', 'del', ns]);
    }
  });
});

describe('bird protocol states', () => {
  it('reads established and idle sessions, with one- or two-token times', () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Name       Proto      Table      State  Since         Info',
      'device1    Device     ---        up     22:41:02.611',
      'tula_vips4 Static     master4    up     22:41:02.611',
      'tula_peer1 BGP        ---        up     22:41:04.119  Established',
      'tula_peer2 BGP        ---        start  2026-12-01 22:41:02  Active        Socket: Connection refused',
    ].join('\n');
    expect(parseProtocols(text)).toEqual([
      { name: 'tula_peer1', state: 'up', info: 'Established', established: true },
      { name: 'tula_peer2', state: 'start', info: 'Active Socket: Connection refused', established: false },
    ]);
  });
});

describe('which VIPs a balancer announces', () => {
  const state = (over: Record<string, unknown> = {}) =>
    parse({
      apiVersion: 'tula/v1',
      version: 1,
      balancer: {
        announce: { bgp: BGP, vrrp: { ...VRRP } },
        services: [
          {
            name: 'web',
            vip: '10.97.0.100',
            port: 80,
            protocol: 'tcp',
            mode: 'l3',
            tunnel: 'vxlan',
            backends: [{ address: '10.99.0.11' }],
          },
          {
            name: 'dns',
            vip: '10.97.0.100',
            port: 53,
            protocol: 'udp',
            mode: 'l3',
            tunnel: 'vxlan',
            backends: [{ address: '10.99.0.12' }],
          },
          {
            name: 'api',
            vip: '10.97.0.101',
            port: 80,
            protocol: 'tcp',
            mode: 'l3',
            tunnel: 'vxlan',
            backends: [{ address: '10.99.0.11' }],
          },
          { name: 'l2', vip: '10.99.0.100', port: 80, protocol: 'tcp', mode: 'l2', backends: [{ address: '10.99.0.11' }] },
        ],
        ...over,
      },
    });
  const model = (backends: [string, string][], services = ['web', 'dns', 'api', 'l2']) =>
    ({
      services: services.map((name) => ({ name })),
      backends: backends.map(([service, condition]) => ({ service, condition })),
    }) as unknown as DataplaneModel;
  const healthy = model([
    ['web', 'usable'],
    ['dns', 'usable'],
    ['api', 'usable'],
    ['l2', 'usable'],
  ]);
  const summary = (v: ReturnType<typeof vipFitness>) => v.map((x) => `${x.via} ${x.vip} ${x.fit ? 'fit' : x.reason}`);

  it('announces L3 VIPs over BGP and L2 VIPs over VRRP while the kernel serves them', () => {
    expect(summary(vipFitness({ state: state(), model: healthy, applyFailed: false, stopping: false }))).toEqual([
      'bgp 10.97.0.100 fit',
      'bgp 10.97.0.101 fit',
      'vrrp 10.99.0.100 fit',
    ]);
  });

  it('keeps a VIP while one of its services has a healthy backend, withdraws one with none', () => {
    const m = model([
      ['web', 'down'],
      ['dns', 'usable'],
      ['api', 'down'],
      ['l2', 'draining'],
    ]);
    expect(summary(vipFitness({ state: state(), model: m, applyFailed: false, stopping: false }))).toEqual([
      'bgp 10.97.0.100 fit',
      'bgp 10.97.0.101 no healthy backend',
      'vrrp 10.99.0.100 no healthy backend',
    ]);
  });

  it('withdraws everything when draining, after a failed apply, when stopping, and before the kernel holds a service', () => {
    expect(
      new Set(
        summary(vipFitness({ state: state({ draining: true }), model: healthy, applyFailed: false, stopping: false })).map(
          (s) => s.split(' ')[2],
        ),
      ),
    ).toEqual(new Set(['draining']));
    expect(
      new Set(
        summary(vipFitness({ state: state(), model: healthy, applyFailed: true, stopping: false })).map((s) =>
          s.split(' ').slice(2).join(' '),
        ),
      ),
    ).toEqual(new Set(['apply failed']));
    expect(
      new Set(
        summary(vipFitness({ state: state(), model: healthy, applyFailed: false, stopping: true })).map((s) =>
          s.split(' ').slice(2).join(' '),
        ),
      ),
    ).toEqual(new Set(['agent stopping']));
    expect(
      summary(vipFitness({ state: state(), model: model([['web', 'usable']], ['web']), applyFailed: false, stopping: false })),
    ).toEqual(['bgp 10.97.0.100 fit', 'bgp 10.97.0.101 not in the kernel', 'vrrp 10.99.0.100 not in the kernel']);
  });

  it('announces nothing without announcement settings', () => {
    expect(vipFitness({ state: state({ announce: undefined }), model: healthy, applyFailed: false, stopping: false })).toEqual([]);
  });
});
