// The control plane driving real kernels: agents in server mode inside a
// network-namespace lab, a real panel on real PostgreSQL, real traffic.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { createLab, LAB, withoutFlowEntries, type Lab } from '@tula/netlab';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allNodesApplied,
  apiClient,
  enrollLab,
  labWebService,
  signUp,
  startAgent,
  waitFor,
  type AgentProcess,
  type Api,
} from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

const unavailable =
  process.getuid?.() !== 0 ? 'needs root for network namespaces and nftables (run the suite as root, as CI does)' : undefined;

describe.skipIf(unavailable)(`control plane with real kernels${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let db: TestDatabase;
  let panel: PanelProcess;
  let lab: Lab;
  let api: Api;
  let agents = new Map<string, AgentProcess>();
  let nodeIds = new Map<string, string>();
  const env = () => ({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 'y'.repeat(40), HOST: '0.0.0.0' });

  const curl = async (url: string) =>
    (await lab.exec(lab.client.ns, ['curl', '-sS', '--max-time', '3', url], { allowFailure: true })).stdout.trim();
  const seen = async (url: string) => {
    const s = new Set<string>();
    for (let i = 0; i < 30 && s.size < 3; i++) s.add(await curl(url));
    return [...s].sort();
  };
  const ruleset = async (ns: string) =>
    withoutFlowEntries((await lab.exec(ns, ['nft', 'list', 'ruleset'])).stdout)
      .replace(/(packets|bytes) \d+/g, '$1 N')
      .replace(/ expires [\dhms]+/g, '')
      .replace(/ counter packets N bytes N/g, '');

  beforeAll(async () => {
    db = await createTestDatabase();
    panel = await startPanel(env());
    api = apiClient(panel.url, await signUp(panel.url, `lab-${Date.now()}@example.com`));
    lab = await createLab({ prefix: 'tcp', managementNet: 11 });
    ({ agents, nodeIds } = await enrollLab(api, lab, panel.port));
  }, 180_000);

  afterAll(async () => {
    for (const a of agents.values()) await a.stop();
    await lab?.destroy();
    await panel?.stop();
    await db?.drop();
  });

  const allInSync = () => allNodesApplied(api, agents.size);

  it('a service created through the API carries traffic, and the backends were set up from their addresses', async () => {
    await api.services.create.mutate(labWebService(lab, nodeIds.get('lb1')!, { intervalMs: 500, timeoutMs: 300, fall: 2 }));
    await allInSync();
    expect(await seen(`http://${LAB.l2Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
    const backendDoc = JSON.stringify((await api.nodes.get.query({ id: nodeIds.get('b1')! })).desiredState);
    expect(backendDoc).toContain(`"vip":"${LAB.l2Vip.v4}"`);
  });

  it("counters reach the database and the live stream; return-path bytes dwarf the balancer's", async () => {
    const received: { kind: string; bytes: number }[] = [];
    let firstAt = 0;
    const sub = api.live.counters.subscribe(undefined, {
      onData: ({ data: samples }) => {
        if (!firstAt && samples.some((s) => s.kind === 'vip_return' && s.bytes > 1_000_000)) firstAt = Date.now();
        received.push(...samples);
      },
    });
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const startedAt = Date.now();
      await lab.exec(lab.client.ns, ['curl', '-sS', '-o', '/dev/null', `http://${LAB.l2Vip.v4}/bytes/${5 * 1024 * 1024}`]);
      const downloadedAt = Date.now();
      await waitFor('return-path samples on the live stream', () => firstAt > 0, 15_000);
      console.log(
        `live stream delivered the return-path counters ${firstAt - downloadedAt} ms after the download ended (${downloadedAt - startedAt} ms long)`,
      );
      // The backends report every second: a download that spans two reports reaches the stream (and the
      // rollups) in two parts, the first of which ends the wait above (seen in a CI run: 1.1 MB of 5 stored).
      const sql = new pg.Client({ connectionString: db.url });
      await sql.connect();
      const rollups = async () => {
        const { rows } = await sql.query<{ kind: string; bytes: string }>(
          `SELECT kind::text, sum(bytes)::text AS bytes FROM "CounterRollup" WHERE resolution = 'minute' GROUP BY kind`,
        );
        return Object.fromEntries(rows.map((r) => [r.kind, Number(r.bytes)]));
      };
      const total = await waitFor(
        'the whole download in the minute rollups',
        async () => {
          const t = await rollups();
          return (t.vip_return ?? 0) > 5 * 1024 * 1024 ? t : undefined;
        },
        15_000,
      ).finally(() => sql.end());
      expect(total.vip_return! / total.service!).toBeGreaterThan(20);
      expect(received.some((s) => s.kind === 'service')).toBe(true);
    } finally {
      sub.unsubscribe();
    }
  });

  it('a state the host cannot apply is NACKed: lastError on the node and the service, and the old rules still forward', async () => {
    // An ingress interface that exists on no host: every balancer refuses this
    // state (unlike a tunnel type, which some kernels have and others lack).
    const lb = await api.nodes.get.query({ id: nodeIds.get('lb1')! });
    const { id } = await api.services.create.mutate({
      name: 'absent-interface',
      vip: LAB.l3Vip.v4,
      ports: '80',
      protocol: 'tcp',
      mode: 'l2',
      ingressInterface: 'tula-absent0',
      balancerNodeIds: [lb.id],
      backends: [{ address: lab.backends[0]!.v4 }],
    });
    const failed = await waitFor(
      'the balancer to NACK',
      async () => {
        const n = await api.nodes.get.query({ id: lb.id });
        return n.lastError ? n : undefined;
      },
      30_000,
    );
    expect(failed.lastError).toContain('interface tula-absent0 does not exist on this host');
    expect(failed.inSync).toBe(false);
    expect((await api.services.get.query({ id })).rollout.errors[0]?.error).toBe(failed.lastError);
    expect(await seen(`http://${LAB.l2Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
    await api.services.delete.mutate({ id });
    await allInSync();
  });

  it("a map flushed behind the agent's back is repaired, and the drift shows on the node and in the audit log", async () => {
    const lb = nodeIds.get('lb1')!;
    const before = Date.now();
    await lab.exec(lab.balancers[0]!.ns, ['nft', 'flush', 'map', 'netdev', 'tula', 'lut']);
    const node = await waitFor(
      'the drift to reach the panel',
      async () => {
        const n = await api.nodes.get.query({ id: lb });
        return n.lastDriftAt && n.lastDriftAt.getTime() >= before - 1000 ? n : undefined;
      },
      20_000,
    );
    expect(node.lastDrift.join('\n')).toMatch(/lut/);
    const audit = (await api.audit.list.query({})).items.find((e) => e.action === 'node.drift_repaired' && e.targetId === lb);
    expect(JSON.stringify(audit?.data)).toMatch(/lut/);
    expect(await seen(`http://${LAB.l2Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
  });

  it('a restarted panel: agents reconnect and resync, and no rule changes in the kernel', async () => {
    const before = await ruleset(lab.balancers[0]!.ns);
    const port = panel.port;
    await panel.stop('SIGKILL');
    panel = await startPanel(env(), 90_000, { port });
    await waitFor('the balancer to reconnect', async () => (await api.nodes.get.query({ id: nodeIds.get('lb1')! })).online, 40_000);
    await allInSync();
    await new Promise((r) => setTimeout(r, 2000));
    expect(await ruleset(lab.balancers[0]!.ns)).toBe(before);
    expect(await seen(`http://${LAB.l2Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
    // The waits above allow up to 90 s for the panel's start and 40 s for the reconnect.
  }, 180_000);

  it('an agent whose hello is slow to gather sends nothing before it, so the panel keeps the connection', async () => {
    // Its capability probe (`nft --version`) takes 3 s: the counters, read every second, are ready long before the hello.
    const bin = mkdtempSync(join(tmpdir(), 'tula-slow-nft-'));
    const nft = execFileSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).trim();
    writeFileSync(join(bin, 'nft'), `#!/bin/sh\n[ "$1" = --version ] && sleep 3\nexec ${nft} "$@"\n`, { mode: 0o755 });
    const old = agents.get('lb1')!;
    await old.stop();
    const lb1 = startAgent({
      server: `http://${await lab.connectToHost(lab.balancers[0]!)}:${panel.port}`,
      name: 'lb1',
      netns: lab.balancers[0]!.ns,
      stateDir: old.stateDir,
      dryRun: false,
      extra: ['--insecure'],
      env: { PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    agents.set('lb1', lb1);
    await waitFor(
      'lb1 to be online and in sync again',
      async () => {
        const n = await api.nodes.get.query({ id: nodeIds.get('lb1')! });
        return n.online && n.inSync;
      },
      40_000,
    );
    expect(lb1.output()).not.toContain('disconnected from the panel');
    expect(await seen(`http://${LAB.l2Vip.v4}/`)).toEqual(['b1', 'b2', 'b3']);
    rmSync(bin, { recursive: true, force: true });
  });
});
