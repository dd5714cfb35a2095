// How the data plane behaves when things change: Maglev stability, draining,
// health checks, rejected transactions, restarts, bad input and reset. Real
// kernel, real traffic, in network namespaces.
import type { ChildProcess } from 'node:child_process';
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, LAB, netlabScript, withoutFlowEntries, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_COMMAND, AgentHost, curlFromClient, kernelTestsUnavailable, udpFlows as probeFlows } from './support.ts';

const unavailable = await kernelTestsUnavailable();

type BackendSpec = { address: string; state?: 'active' | 'draining' | 'disabled' };

// Each step runs the agent's CLI through tsx (a second or more on a loaded machine) and the
// health loops poll `status` up to 100 times, so a test can outlast the default 60 s without a fault.
describe.skipIf(unavailable)(`data-plane behaviour${unavailable ? ` (skipped: ${unavailable})` : ''}`, { timeout: 150_000 }, () => {
  let lab: Lab;
  let lb: AgentHost;
  let version = 1;

  type HealthCheckInput = NonNullable<NonNullable<DesiredStateInput['balancer']>['services'][number]['healthCheck']>;
  const doc = (backends: BackendSpec[], extra: { healthCheck?: HealthCheckInput } = {}): DesiredStateInput => ({
    apiVersion: 'tula/v1',
    version: version++,
    balancer: {
      services: [
        { name: 'web', vip: LAB.l2Vip.v4, port: 80, protocol: 'tcp', mode: 'l2', backends, ...extra },
        { name: 'dns', vip: LAB.l2Vip.v4, port: 5353, protocol: 'udp', mode: 'l2', backends, ...extra },
      ],
    },
  });
  const all = (): BackendSpec[] => lab.backends.map((b) => ({ address: b.v4 }));

  const udpFlows = (sports: string) => probeFlows(lab, LAB.l2Vip.v4, sports);
  const curl = async () => (await curlFromClient(lab, `http://${LAB.l2Vip.v4}/`)).trim();

  beforeAll(async () => {
    lab = await createLab({ prefix: 'tbh' });
    lb = new AgentHost(lab, lab.balancers[0]!);
    for (const b of lab.backends) {
      await new AgentHost(lab, b).apply({ apiVersion: 'tula/v1', version: 1, backend: { vips: [{ vip: LAB.l2Vip.v4, mode: 'l2' }] } });
    }
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('Maglev: taking one of three backends out moves only its flows; bringing it back moves at most ~1/N', async () => {
    await lb.apply(doc(all()));
    const before = await udpFlows('30000-30999');
    const answered = Object.values(before);
    expect(answered.filter((a) => a === null)).toHaveLength(0);
    const out = lab.backends[1]!;
    const share = answered.filter((a) => a === out.name).length / answered.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.45);

    await lb.apply(doc(all().map((b) => (b.address === out.v4 ? { ...b, state: 'disabled' as const } : b))));
    const during = await udpFlows('30000-30999');
    let survivorsMoved = 0;
    for (const [sport, was] of Object.entries(before)) {
      if (was !== out.name && during[sport] !== was) survivorsMoved++;
      expect(during[sport]).not.toBe(out.name);
    }
    expect(survivorsMoved).toBe(0);

    await lb.apply(doc(all()));
    const after = await udpFlows('30000-30999');
    const moved = Object.keys(during).filter((s) => after[s] !== during[s]).length;
    expect(moved / 1000).toBeLessThanOrEqual(1 / 3 + 0.05);

    // Fresh flows (never pinned) spread over all three again.
    const fresh = Object.values(await udpFlows('31000-31299'));
    expect(new Set(fresh)).toEqual(new Set(['b1', 'b2', 'b3']));
  });

  it('Maglev: removing a backend from the service keeps every other flow where it is', async () => {
    await lb.apply(doc(all()));
    const before = await udpFlows('32000-32999');
    const gone = lab.backends[2]!;
    await lb.apply(doc(all().filter((b) => b.address !== gone.v4)));
    const after = await udpFlows('32000-32999');
    for (const [sport, was] of Object.entries(before)) {
      if (was === gone.name) expect(after[sport]).not.toBe(gone.name);
      else expect(after[sport]).toBe(was);
    }
    // Adding a backend leaves established flows where they are (the flow table)...
    await lb.apply(doc(all()));
    expect(await udpFlows('32000-32999')).toEqual(after);
    // ... while new flows use it.
    expect(Object.values(await udpFlows('36000-36299'))).toContain(gone.name);
  });

  it('draining: a long-lived connection keeps its backend while new connections avoid it', async () => {
    await lb.apply(doc(all()));
    const client = lab.spawn(lab.client.ns, [
      ...netlabScript('keepalive-client'),
      '--target',
      LAB.l2Vip.v4,
      '--interval',
      '100',
      '--duration',
      '4000',
    ]);
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => client.once('exit', r));
    const first = async () => {
      // The client is a tsx process: on a busy machine it takes seconds to start (2.5 s was too few once).
      for (let i = 0; i < 600 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
      if (!out.includes('\n')) throw new Error('the keep-alive client printed no answer within 30 s');
      return (JSON.parse(out.split('\n')[0]!) as { backend: string }).backend;
    };
    const pinned = await first();
    const address = lab.backends.find((b) => b.name === pinned)!.v4;
    await lb.apply(doc(all().map((b) => (b.address === address ? { ...b, state: 'draining' as const } : b))));

    const fresh = new Set<string>();
    for (let i = 0; i < 20; i++) fresh.add(await curl());
    expect(fresh.has(pinned)).toBe(false);
    expect(fresh.size).toBe(2);

    expect(await exited).toBe(0);
    const responses = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { backend?: string; error?: string });
    expect(responses.length).toBeGreaterThan(20);
    expect(responses.every((r) => r.backend === pinned)).toBe(true);
    const s = await lb.status();
    expect(s.backends.find((b) => b.service === 'web' && b.address === address)!.condition).toBe('draining');
  });

  describe('health checks under `tula-agent run`', () => {
    let runner: ChildProcess;
    let runnerOut = '';

    beforeAll(async () => {
      const file = lb.writeState(
        doc(all(), { healthCheck: { type: 'tcp', port: 80, intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2 } }),
        'run.json',
      );
      runner = lab.spawn(lb.host.ns, [...AGENT_COMMAND, 'run', '--state', file, '--state-dir', lb.stateDir]);
      runner.stdout!.on('data', (d: Buffer) => (runnerOut += d.toString()));
      runner.stderr!.on('data', (d: Buffer) => (runnerOut += d.toString()));
      for (let i = 0; i < 100; i++) {
        const s = await lb.status().catch(() => undefined);
        if (s?.running && s.backends.length > 0 && s.backends.every((b) => b.healthy === true)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`agent run did not report healthy backends:\n${runnerOut}`);
    });
    afterAll(async () => {
      runner?.kill('SIGTERM');
      await new Promise((r) => runner?.once('exit', r));
    });

    it('a stopped backend leaves, other flows stay, and it returns when it is back', async () => {
      const victim = lab.backends[0]!;
      const before = await udpFlows('33000-33499');
      await lab.stopServer(victim);
      const started = Date.now();
      let leftAfter = -1;
      for (let i = 0; i < 100; i++) {
        const s = await lb.status();
        if (s.backends.filter((b) => b.address === victim.v4).every((b) => b.healthy === false && b.condition === 'down')) {
          leftAfter = Date.now() - started;
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(leftAfter, runnerOut).toBeGreaterThanOrEqual(0);
      console.log(`backend left ${leftAfter} ms after its server stopped (fall 2 x interval 200 ms)`);

      const during = await udpFlows('33000-33499');
      for (const [sport, was] of Object.entries(before)) {
        if (was === victim.name) expect(during[sport]).not.toBe(victim.name);
        else expect(during[sport]).toBe(was);
      }

      await lab.startServer(victim);
      let back = false;
      for (let i = 0; i < 100 && !back; i++) {
        const s = await lb.status();
        back = s.backends.filter((b) => b.address === victim.v4).every((b) => b.healthy === true && b.condition === 'usable');
        if (!back) await new Promise((r) => setTimeout(r, 100));
      }
      expect(back, runnerOut).toBe(true);
      const fresh = Object.values(await udpFlows('34000-34299'));
      expect(fresh).toContain(victim.name);
    });

    it("when every backend is down the VIP's traffic is dropped and counted", async () => {
      for (const b of lab.backends) await lab.stopServer(b);
      try {
        for (let i = 0; i < 100; i++) {
          const s = await lb.status();
          if (s.backends.every((b) => b.condition === 'down')) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const dropsBefore = (await lb.status()).counters!.services.dns!.drops;
        const flows = await udpFlows('35000-35049');
        expect(Object.values(flows).every((v) => v === null)).toBe(true);
        const dropsAfter = (await lb.status()).counters!.services.dns!.drops;
        expect(dropsAfter - dropsBefore).toBeGreaterThanOrEqual(50);
      } finally {
        for (const b of lab.backends) await lab.startServer(b);
      }
    });

    it('a restarted agent adopts the kernel state without rebuilding it', async () => {
      const countersBefore = (await lb.status()).counters!.services.web!.packets;
      expect(countersBefore).toBeGreaterThan(0);
      runner.kill('SIGKILL');
      await new Promise((r) => runner.once('exit', r));
      const next = doc(all(), { healthCheck: { type: 'tcp', port: 80, intervalMs: 200, timeoutMs: 150, rise: 2, fall: 2 } });
      const file = lb.writeState(next, 'run.json');
      runnerOut = '';
      runner = lab.spawn(lb.host.ns, [...AGENT_COMMAND, 'run', '--state', file, '--state-dir', lb.stateDir]);
      runner.stdout!.on('data', (d: Buffer) => (runnerOut += d.toString()));
      // Only the new process can record the new version: then it has adopted the tables and converged.
      let applied: number | null = null;
      for (let i = 0; i < 100 && applied !== next.version; i++) {
        await new Promise((r) => setTimeout(r, 100));
        applied = (await lb.status().catch(() => undefined))?.appliedVersion ?? null;
      }
      expect(applied, runnerOut).toBe(next.version);
      expect(runnerOut).not.toMatch(/rebuilt|rebuilding/);
      // Counters survive: the tables were adopted, not replaced.
      expect((await lb.status()).counters!.services.web!.packets).toBeGreaterThanOrEqual(countersBefore);
    });
  });

  it("a transaction the kernel rejects leaves the previous rules forwarding and reports nft's error", async () => {
    await lb.apply(doc(all()));
    // Everything but counters and the flow tables' entries.
    const rules = async () =>
      withoutFlowEntries((await lab.exec(lb.host.ns, ['nft', 'list', 'table', 'netdev', 'tula'])).stdout).replace(
        /packets \d+ bytes \d+/g,
        '',
      );
    const rulesBefore = await rules();
    // Facts that claim an interface the host does not have (as if it vanished
    // between reading the host and applying): forwarding out of it is refused.
    const facts = {
      interfaces: { e0: { mac: '02:00:00:00:00:01' }, ghost0: { mac: '02:00:00:00:00:02' } },
      serviceInterfaces: { web: 'e0', dns: 'e0', ghost: 'ghost0' },
      neighbours: Object.fromEntries(
        lab.backends.flatMap((b) => [
          [`e0|${b.v4}`, '02:00:00:00:00:11'],
          [`ghost0|${b.v4}`, '02:00:00:00:00:11'],
        ]),
      ),
    };
    const { writeFileSync } = await import('node:fs');
    const factsFile = `${lb.stateDir}/../facts.json`;
    writeFileSync(factsFile, JSON.stringify(facts));
    const withGhost = doc(all());
    withGhost.balancer!.services.push({
      name: 'ghost',
      vip: '10.96.0.1',
      port: 80,
      protocol: 'tcp',
      mode: 'l2',
      backends: [{ address: lab.backends[0]!.v4 }],
    });
    const r = await lb.agent(['apply', '--state', lb.writeState(withGhost), '--facts', factsFile], { allowFailure: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nft rejected the transaction: .*(No such file or directory|ghost0)/s);
    expect(await rules()).toBe(rulesBefore);
    expect(['b1', 'b2', 'b3']).toContain(await curl());
  });

  it('a document that fails validation lists every problem and changes nothing', async () => {
    const ruleset = async () =>
      withoutFlowEntries((await lab.exec(lb.host.ns, ['nft', 'list', 'ruleset'])).stdout)
        .replace(/packets \d+ bytes \d+/g, '')
        .replace(/ expires [\dhms]+/g, '');
    const rulesBefore = await ruleset();
    const bad = {
      apiVersion: 'tula/v1',
      version: 99,
      balancer: {
        services: [
          { name: 'web', vip: '10.99.0.300', port: 80, protocol: 'tcp', mode: 'l2', backends: [{ address: 'b1' }] },
          { name: 'x', vip: LAB.l2Vip.v4, port: 70000, protocol: 'sctp', mode: 'l2', backends: [] },
        ],
      },
    };
    const r = await lb.agent(['apply', '--state', lb.writeState(bad as unknown as DesiredStateInput, 'bad.json')], { allowFailure: true });
    expect(r.code).toBe(2);
    for (const path of [
      '$.balancer.services[0].vip',
      '$.balancer.services[0].backends[0].address',
      '$.balancer.services[1].port',
      '$.balancer.services[1].protocol',
    ]) {
      expect(r.stderr).toContain(path);
    }
    expect(r.stderr).toContain('Nothing was changed');
    expect(await ruleset()).toBe(rulesBefore);
  });

  it('reset removes every Tula table, device, route, rule, VIP and sysctl change, and nothing else', async () => {
    const host = lab.backends[0]!;
    const sysctls = ['net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.ip_forward'];
    const read = async (ns: string) => (await lab.exec(ns, ['sysctl', '-n', ...sysctls])).stdout;
    // A fresh host (this one has not been set up yet in this lab) with a table of someone else's.
    const other = lab.client;
    await lab.exec(other.ns, ['nft', 'add', 'table', 'inet', 'theirs']);
    const sysBefore = await read(other.ns);
    const addrBefore = (await lab.exec(other.ns, ['ip', '-br', 'addr'])).stdout;
    const clientAgent = new AgentHost(lab, other);
    await clientAgent.apply({
      apiVersion: 'tula/v1',
      version: 1,
      balancer: {
        services: [
          {
            name: 'l3',
            vip: LAB.l3Vip.v4,
            port: 80,
            protocol: 'tcp',
            mode: 'l3',
            tunnel: 'vxlan',
            interface: 'e0',
            backends: [{ address: host.v4 }],
          },
        ],
      },
      backend: {
        vips: [
          { vip: LAB.l2Vip.v4, mode: 'l2' },
          { vip: LAB.l3Vip.v6, mode: 'l3', tunnel: 'vxlan' },
        ],
      },
    });
    expect(await read(other.ns)).not.toBe(sysBefore);
    await clientAgent.agent(['reset']);
    expect((await lab.exec(other.ns, ['nft', 'list', 'tables'])).stdout.trim()).toBe('table inet theirs');
    expect((await lab.exec(other.ns, ['ip', '-br', 'addr'])).stdout).toBe(addrBefore);
    expect((await lab.exec(other.ns, ['ip', 'link'])).stdout).not.toContain('tula-');
    expect((await lab.exec(other.ns, ['ip', 'rule'])).stdout).not.toContain('proto 84');
    expect((await lab.exec(other.ns, ['ip', '-6', 'rule'])).stdout).not.toContain('proto 84');
    expect((await lab.exec(other.ns, ['ip', 'route', 'show', 'table', 'all', 'proto', '84'])).stdout.trim()).toBe('');
    expect(await read(other.ns)).toBe(sysBefore);
  });
});
