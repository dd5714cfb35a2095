// The agent's convergence shell against a real kernel: drift in Tula's tables is
// found and repaired, steps after the nft commit never turn it into a failure,
// and health outlives a restart. Network namespaces, real nftables, real traffic.
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { FLOW_DEFAULTS, type DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AGENT_COMMAND,
  AgentHost,
  applyBackendVips,
  kernelTestsUnavailable,
  L2_BACKEND_VIPS,
  udpFlows as probeFlows,
  type StatusJson,
} from './support.ts';

const unavailable = await kernelTestsUnavailable();
/** The idle re-check interval of `tula-agent run`. */
const RESYNC_MS = 5000;

type HealthCheckInput = NonNullable<NonNullable<DesiredStateInput['balancer']>['services'][number]['healthCheck']>;

describe.skipIf(unavailable)(`convergence shell${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  let lb: AgentHost;
  let version = 1;
  const doc = (extra: { healthCheck?: HealthCheckInput; v6?: boolean } = {}): DesiredStateInput => ({
    apiVersion: 'tula/v1',
    version: version++,
    balancer: {
      services: [
        {
          name: 'dns',
          vip: LAB.l2Vip.v4,
          port: 5353,
          protocol: 'udp',
          mode: 'l2',
          backends: lab.backends.map((b) => ({ address: b.v4 })),
          ...(extra.healthCheck ? { healthCheck: extra.healthCheck } : {}),
        },
        ...(extra.v6
          ? [
              {
                name: 'dns6',
                vip: LAB.l2Vip.v6,
                port: 5353,
                protocol: 'udp' as const,
                mode: 'l2' as const,
                interface: 'e0',
                backends: lab.backends.map((b) => ({ address: b.v6 })),
              },
            ]
          : []),
      ],
    },
  });
  const udpFlows = (sports: string) => probeFlows(lab, LAB.l2Vip.v4, sports);
  const answered = async (sports: string) => Object.values(await udpFlows(sports)).filter((v) => v !== null).length;
  const nft = (...args: string[]) => lab.exec(lb.host.ns, ['nft', ...args]);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Entries of the IPv4 flow table. */
  const pinned = async () =>
    (await nft('list', 'map', 'netdev', 'tula', `flows4_udp_${FLOW_DEFAULTS.tableSize}`)).stdout
      .split('\n')
      .filter((l) => l.includes(' : ')).length;

  /** Handle and text of the rules of Tula's netdev table, from `nft -a`. */
  async function tulaRules(): Promise<{ chain: string; handle: string; text: string }[]> {
    const out: { chain: string; handle: string; text: string }[] = [];
    let chain = '';
    for (const line of (await nft('-a', 'list', 'table', 'netdev', 'tula')).stdout.split('\n')) {
      const c = /^\s*chain (\S+) \{/.exec(line);
      if (c) chain = c[1]!;
      const r = /^\s+(.*\S) # handle (\d+)$/.exec(line);
      if (r && chain && !/^type /.test(r[1]!)) out.push({ chain, handle: r[2]!, text: r[1]! });
    }
    return out;
  }

  beforeAll(async () => {
    lab = await createLab({ prefix: 'dpa', managementNet: 43 });
    lb = new AgentHost(lab, lab.balancers[0]!);
    await applyBackendVips(lab, L2_BACKEND_VIPS);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('apply finds a flushed map, repairs it and says so, instead of "already in place"', async () => {
    const d = doc();
    await lb.apply(d);
    expect(await answered('40000-40099')).toBe(100);
    await nft('flush', 'map', 'netdev', 'tula', 'lut');
    expect(await answered('40100-40199')).toBe(0);
    const packets = (await lb.status()).counters!.services.dns!.packets;
    const pins = await pinned();
    expect(pins).toBeGreaterThanOrEqual(100);
    const r = await lb.agent(['apply', '--state', lb.writeState(d)]);
    expect(r.stdout).not.toContain('already in place');
    expect(r.stderr).toMatch(/drift.*lut/);
    // Put back in place, not rebuilt: the flow table and the counters are kept.
    expect(r.stdout).not.toContain('rebuilt');
    expect(await pinned()).toBe(pins);
    expect((await lb.status()).counters!.services.dns!.packets).toBeGreaterThanOrEqual(packets);
    expect(await answered('40200-40299')).toBe(100);
    const s = await lb.status();
    expect(s.lastDrift?.what.join('\n')).toMatch(/lut/);
  });

  it('a step after the nft commit that the kernel refuses is a warning: exit 0, new version saved, no rebuild next time', async () => {
    await lb.apply(doc());
    // The kernel refuses IPv6 addresses on e0 now, so taking the IPv6 VIP on fails after the commit.
    await lab.exec(lb.host.ns, ['sysctl', '-qw', 'net.ipv6.conf.e0.disable_ipv6=1']);
    try {
      const d = doc({ v6: true });
      const r = await lb.agent(['apply', '--state', lb.writeState(d)], { allowFailure: true });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: .*fd00:99::100/);
      expect((await lb.status()).appliedVersion).toBe(d.version);
      // Pinned flows and counters survive the next apply: it patches, it does not rebuild.
      const flowsBefore = await udpFlows('41000-41099');
      const packets = (await lb.status()).counters!.services.dns!.packets;
      expect(await pinned()).toBeGreaterThan(0);
      const again = await lb.agent(['apply', '--state', lb.writeState({ ...d, version: version++ })], { allowFailure: true });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stdout).not.toContain('rebuilt');
      expect((await lb.status()).counters!.services.dns!.packets).toBeGreaterThanOrEqual(packets);
      expect(await udpFlows('41000-41099')).toEqual(flowsBefore);
    } finally {
      await lab.exec(lb.host.ns, ['sysctl', '-qw', 'net.ipv6.conf.e0.disable_ipv6=0']);
    }
  });

  describe('under `tula-agent run`', () => {
    let runner: ChildProcess;
    let out = '';
    const hc: HealthCheckInput = { type: 'udp', port: 5353, payload: 'who', intervalMs: 300, timeoutMs: 250, rise: 3, fall: 20 };
    const start = () => {
      out = '';
      runner = lab.spawn(lb.host.ns, [
        ...AGENT_COMMAND,
        'run',
        '--state',
        lb.writeState(doc({ healthCheck: hc }), 'run.json'),
        '--state-dir',
        lb.stateDir,
      ]);
      runner.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      runner.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    };
    const stop = async () => {
      const gone = new Promise((r) => runner.once('exit', r));
      runner.kill('SIGTERM');
      await gone;
    };
    async function waitStatus(ok: (s: StatusJson) => boolean, what: string): Promise<StatusJson> {
      for (let i = 0; i < 150; i++) {
        const s = await lb.status().catch(() => undefined);
        if (s && ok(s)) return s;
        await sleep(100);
      }
      throw new Error(`agent run: ${what} did not happen:\n${out}`);
    }

    beforeAll(async () => {
      start();
      await waitStatus((s) => s.running && s.backends.length === 3 && s.backends.every((b) => b.healthy === true), 'healthy backends');
    });
    afterAll(async () => {
      if (runner && runner.exitCode === null) await stop();
    });

    /** Waits for every flow of a fresh port range to be answered; returns how long it took (printed, not asserted: timings vary with load). */
    async function restored(base: number): Promise<number> {
      const began = Date.now();
      for (let i = 0; Date.now() - began < 6 * RESYNC_MS; i++) {
        if ((await answered(`${base + i * 20}-${base + i * 20 + 19}`)) === 20) return Date.now() - began;
        await sleep(200);
      }
      throw new Error(`traffic not restored within ${6 * RESYNC_MS} ms:\n${out}`);
    }

    const tampers: [string, () => Promise<void>, RegExp][] = [
      ['a flushed map', async () => void (await nft('flush', 'map', 'netdev', 'tula', 'macs')), /macs/],
      [
        'a deleted rule',
        async () => {
          const rule = (await tulaRules()).find((r) => r.text.includes('fwd to'));
          expect(rule).toBeDefined();
          await nft('delete', 'rule', 'netdev', 'tula', rule!.chain, 'handle', rule!.handle);
        },
        /rule/,
      ],
      [
        "a foreign rule in Tula's table",
        async () => {
          const rule = (await tulaRules()).find((r) => r.text.includes('fwd to'));
          await nft('insert', 'rule', 'netdev', 'tula', rule!.chain, 'drop');
        },
        /rule/,
      ],
    ];
    for (const [name, tamper, reported] of tampers) {
      it(`repairs ${name} within one resync interval and reports the drift`, async () => {
        expect(await answered('42000-42019')).toBe(20);
        const before = Date.now();
        await tamper();
        const took = await restored(43000 + tampers.findIndex((t) => t[0] === name) * 1000);
        console.log(`${name}: traffic restored ${took} ms after the tamper (resync every ${RESYNC_MS} ms)`);
        const s = await waitStatus((x) => x.lastDrift !== null && Date.parse(x.lastDrift.at) >= before - 1000, 'a drift report');
        expect(s.lastDrift!.what.join('\n')).toMatch(reported);
        expect(out).toMatch(/drift/);
      });
    }

    it('an idle agent rewrites none of its saved state', async () => {
      const files = ['applied.json', 'applied-inputs.json', 'host.json'].map((f) => `${lb.stateDir}/${f}`);
      const stamp = () =>
        files.map((f) => {
          const s = statSync(f);
          return `${s.ino}:${s.mtimeMs}`;
        });
      const before = stamp();
      await sleep(RESYNC_MS * 2 + 500);
      expect(stamp()).toEqual(before);
    });

    it('a backend that was down before a restart gets no new flows until `rise` checks pass', async () => {
      const victim = lab.backends[0]!;
      await lab.stopServer(victim);
      try {
        await waitStatus(
          (s) => s.backends.some((b) => b.address === victim.v4 && b.healthy === false && b.condition === 'down'),
          'victim down',
        );
        await stop();
        start();
        await waitStatus((s) => s.running && s.appliedVersion !== null, 'restart');
        // fall is 20 x 300 ms: an agent that forgot the backend was down would send it flows for seconds.
        const flows = await udpFlows('44000-44199');
        expect(Object.values(flows).filter((v) => v === null)).toHaveLength(0);
        expect(Object.values(flows)).not.toContain(victim.name);
        expect((await lb.status()).backends.find((b) => b.address === victim.v4)?.healthy).toBe(false);
      } finally {
        await lab.startServer(victim);
      }
      await waitStatus((s) => s.backends.every((b) => b.healthy === true && b.condition === 'usable'), 'victim back after rise checks');
      expect(Object.values(await udpFlows('45000-45299'))).toContain(victim.name);
    });
  });
});
