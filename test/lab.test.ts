// README command 1's local lab, as a newcomer gets it: the real panel process
// with TULA_LAB=1 builds namespaces, agents, services and traffic. The test
// reads the DSR picture from the API, breaks a backend through the lab
// controls, kills a balancer (host death) and brings it back while a request
// loop on new connections counts failures, crashes the panel, and checks that
// nothing of the lab survives `npm run lab:down` or a Ctrl-C.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { LAB_DEMO, LAB_PREFIX } from '@tula/lab';
import { LAB, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRequestLoop } from '../apps/agent/test/ha-support.ts';
import { apiClient, signIn, waitFor, type Api } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

const run = promisify(execFile);
const unavailable =
  process.getuid?.() !== 0 ? 'needs root for network namespaces and nftables (run the suite as root, as CI does)' : undefined;

/**
 * What the lab left on this machine: namespaces, root-namespace nft tables, and
 * its processes (agents on its data directory, the traffic generator, backend
 * servers of its prefix; other test files run their own at the same time).
 */
async function leftovers() {
  const namespaces = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${LAB_PREFIX}-`));
  const tables = (await run('nft', ['list', 'tables'])).stdout.split('\n').filter((l) => /tula/i.test(l));
  const ours = new RegExp(
    `tula-agent\\S* .*--state-dir ${tmpdir()}/tula-lab-|/(traffic|backend-server)\\S*\\.m?[jt]s .*--lab ${LAB_PREFIX}\\b`,
  );
  const processes = (await run('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => ours.test(l));
  return { namespaces, tables, processes };
}
const nothingLeft = { namespaces: [], tables: [], processes: [] };

describe('without root', () => {
  it('README command 1 starts the panel alone and says why the lab is off and how to get it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'tula-nolab-'));
    chmodSync(dataDir, 0o777);
    // As root (CI), the panel runs as nobody; otherwise as the user running the tests.
    const panel = await startPanel({ DATABASE_URL: '', TULA_DATA_DIR: dataDir, TULA_LAB: '1', HOME: dataDir }, 90_000, {
      uid: process.getuid?.() === 0 ? 65534 : undefined,
    });
    try {
      const line = await waitFor('the lab verdict', () => panel.output().match(/lab: .*/)?.[0]);
      expect(line).toBe(
        'lab: off, because the lab needs root to create network namespaces: run `sudo npm start`. The control panel runs on its own.',
      );
      const health = (await (await fetch(`${panel.url}/api/health`)).json()) as { ok: boolean; lab: { state: string; detail: string } };
      expect(health.ok).toBe(true);
      expect(health.lab).toEqual({ state: 'off', detail: 'the lab needs root to create network namespaces: run `sudo npm start`' });
      expect(await leftovers()).toEqual(nothingLeft);
    } finally {
      await panel.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe.skipIf(unavailable)(`the local lab (README command 1 as root)${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let db: TestDatabase;
  let dataDir: string;
  let panel: PanelProcess | undefined;

  const startLabPanel = async () => {
    const p = await startLabPanelProcess();
    const outcome = await waitFor('the lab to be ready', () => p.output().match(/lab: (ready|off|could not start).*/)?.[0], 150_000);
    if (!outcome.startsWith('lab: ready')) {
      // Not left running: a panel outliving its test ran on after the suite ended (and its database).
      await p.stop('SIGKILL');
      throw new Error(`${outcome}\n${p.output()}`);
    }
    return p;
  };
  const startLabPanelProcess = () => startPanel({ DATABASE_URL: db.url, TULA_DATA_DIR: dataDir, TULA_LAB: '1', HOST: '0.0.0.0' });
  const demoApi = async (p: PanelProcess): Promise<Api> => apiClient(p.url, await signIn(p.url, LAB_DEMO.email, LAB_DEMO.password));

  beforeAll(async () => {
    db = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'tula-lab-'));
  });
  afterAll(async () => {
    await panel?.stop('SIGKILL');
    await run('npm', ['run', '--silent', 'lab:down']).catch(() => undefined);
    await db?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('after a crash (kill -9), `npm run lab:down` removes every namespace, rule and process of the lab', async () => {
    panel = await startLabPanel();
    expect((await leftovers()).namespaces.length).toBeGreaterThanOrEqual(6);
    expect((await leftovers()).processes.length).toBeGreaterThanOrEqual(5);
    await panel.stop('SIGKILL');
    panel = undefined;
    // The crash leaves the lab behind: agents keep the data plane up without the panel.
    expect((await leftovers()).namespaces.length).toBeGreaterThanOrEqual(6);
    const down = await run('npm', ['run', '--silent', 'lab:down']);
    expect(down.stdout).toMatch(/removed \d+ lab namespaces/);
    expect(await leftovers()).toEqual(nothingLeft);
  }, 240_000);

  it("starts again on the same data, shows return-path bytes at least 20× the balancer's, and the controls break things visibly", async () => {
    panel = await startLabPanel();
    const api = await demoApi(panel);
    // Enough traffic for a ratio worth quoting: 20 MB back to the client.
    const totals = await waitFor(
      '20 MB of return-path traffic',
      async () => {
        const { points } = await api.stats.series.query({ range: 'live' });
        const sum = (k: 'inbound' | 'returnPath') => points.reduce((a, p) => a + (p[k] ?? 0), 0);
        return sum('returnPath') > 20e6 ? { inbound: sum('inbound'), returnPath: sum('returnPath') } : undefined;
      },
      90_000,
    ).catch(async (err: Error) => {
      const nodes = await api.nodes.list.query();
      throw new Error(
        `${err.message}; nodes: ${JSON.stringify(nodes.map((n) => [n.name, n.online, n.inSync, n.lastError]))}\n${panel?.output().slice(-3000)}`,
      );
    });
    console.log(
      `lab: balancer inbound ${totals.inbound} B, backend return path ${totals.returnPath} B, ratio ${(totals.returnPath / totals.inbound).toFixed(0)}×`,
    );
    expect(totals.inbound).toBeGreaterThan(0);
    expect(totals.returnPath / totals.inbound).toBeGreaterThanOrEqual(20);

    // Both services report, each from its own balancer rules and backends.
    const services = await api.services.list.query();
    expect(services.map((s) => `${s.name} ${s.mode} ${s.protocol}`).sort()).toEqual(['lab-dns l3 udp', 'lab-web l3 tcp']);

    // Lab control: stop b1's server; the health checks take it out.
    const web = services.find((s) => s.name === 'lab-web')!;
    await api.lab.setBackendServing.mutate({ backend: 'b1', serving: false });
    await waitFor(
      'the balancer to see b1 down',
      async () => {
        const { backends, transitions } = await api.stats.health.query({ serviceId: web.id, range: 'live' });
        const b1 = backends.find((b) => b.address === '10.99.0.11')!;
        return transitions.some((t) => t.backendId === b1.id && !t.healthy) || undefined;
      },
      30_000,
    );
    expect((await api.lab.status.query())?.backends.find((b) => b.name === 'b1')?.serving).toBe(false);
  }, 300_000);

  it('writes a Prometheus scrape configuration for the lab, and its agents serve metrics where it says', async () => {
    expect(panel).toBeDefined();
    const config = readFileSync(join(dataDir, 'lab', 'prometheus.yml'), 'utf8');
    expect(config).toContain(`targets: ['127.0.0.1:${panel!.port}']`);
    const agents = [...config.matchAll(/targets: \['(10\.254\.[0-9.]+:9105)'\]\n\s+labels: \{ node: '([a-z0-9]+)' \}/g)].map((m) => ({
      target: m[1]!,
      node: m[2]!,
    }));
    expect(agents.map((a) => a.node).sort()).toEqual(['b1', 'b2', 'b3', 'lb1', 'lb2']);
    // A balancer's metrics carry the lab's services, as the Grafana dashboard reads them.
    const lb1 = agents.find((a) => a.node === 'lb1')!;
    const body = await waitFor(
      "lb1's metrics with lab-web's bytes",
      async () => {
        const text = await (await fetch(`http://${lb1.target}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        return /^tula_service_bytes_total\{[^}]*\} [1-9]/m.test(text) ? text : undefined;
      },
      30_000,
    );
    expect(body).toMatch(/^tula_agent_desired_version /m);
  });

  it('two balancers share the traffic; a killed one hands its flows to the other without a failed request, and takes its share back', async () => {
    const api = await demoApi(panel!);
    type Balancers = NonNullable<Awaited<ReturnType<typeof api.lab.status.query>>>['balancers'];
    /** Mean packets per second arriving at each balancer over its samples taken after `since` (ms). */
    const rates = (balancers: Balancers, since: number) =>
      Object.fromEntries(
        balancers.map((b) => {
          const points = b.traffic.filter((p) => p.t > since);
          return [b.name, points.length ? points.reduce((a, p) => a + p.packetsPerSecond, 0) / points.length : 0];
        }),
      );
    const status = async () => (await api.lab.status.query())!;
    // BGP keepalives and BFD (10 a second from the router), ~12 packets a second, are all an idle balancer sees; lab traffic is far more.
    const carries = 40;
    const both = async (what: string) => {
      const from = Date.now();
      return waitFor(
        what,
        async () => {
          const s = await status();
          const r = rates(s.balancers, Math.max(from, Date.now() - 6000));
          const settled = Date.now() - from > 5000;
          return settled && s.balancers.every((b) => b.alive && b.routed && r[b.name]! > carries) ? r : undefined;
        },
        120_000,
      );
    };
    const shared = await both('both balancers to carry lab traffic');
    console.log(`lab: both balancers carry traffic (packets/s in): ${JSON.stringify(shared)}`);

    // The request loop of the HA tests: one request on a new connection every 20 ms, in the lab's client namespace.
    const client = {
      client: { ns: `${LAB_PREFIX}-c` },
      spawn: (ns: string, argv: string[]) => spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] }),
    } as unknown as Lab;
    const loop = await startRequestLoop(client, `http://${LAB.l3Vip.v4}/`);
    await new Promise((r) => setTimeout(r, 2000));

    await api.lab.setBalancerAlive.mutate({ balancer: 'lb1', alive: false });
    // Its link is down once the call returns (under load that took more than the 1.5 s allowed below for
    // the last sample taken before it): the rates count from then.
    const killedAt = Date.now();
    const afterKill = await waitFor(
      'the router to drop lb1 and lb2 to carry its flows',
      async () => {
        const s = await status();
        const r = rates(s.balancers, killedAt + 1500);
        const points = s.balancers.find((b) => b.name === 'lb2')!.traffic.filter((p) => p.t > killedAt + 1500).length;
        return !s.balancers.find((b) => b.name === 'lb1')!.routed && points >= 5 ? { rates: r, status: s } : undefined;
      },
      60_000,
    );
    console.log(`lab: lb1 killed; packets/s in since: ${JSON.stringify(afterKill.rates)}`);
    expect(afterKill.status.balancers.map((b) => [b.name, b.alive, b.routed])).toEqual([
      ['lb1', false, false],
      ['lb2', true, true],
    ]);
    // lb1's link is down: nothing arrives; lb2 carries the lab's traffic and the loop's.
    expect(afterKill.rates.lb1).toBe(0);
    expect(afterKill.rates.lb2).toBeGreaterThan(carries * 2);

    await api.lab.setBalancerAlive.mutate({ balancer: 'lb1', alive: true });
    const again = await both('lb1 to be back and both balancers to carry traffic again');
    const requests = await loop.stop();
    console.log(
      `lab: lb1 back; packets/s in: ${JSON.stringify(again)}; request loop ${requests.sent} sent, ${requests.failed} failed over the kill and the return`,
    );
    expect(requests.failures).toEqual([]);
    expect(requests.sent).toBeGreaterThan(100);

    const audit = await api.audit.list.query({});
    expect(audit.items.map((e) => e.action)).toEqual(expect.arrayContaining(['lab.kill_balancer', 'lab.restore_balancer']));
  }, 300_000);

  it('Ctrl-C (SIGINT) removes the lab on the way out', async () => {
    expect(panel).toBeDefined();
    const code = await panel!.stop('SIGINT');
    panel = undefined;
    expect(code).toBe(0);
    expect(await leftovers()).toEqual(nothingLeft);
  }, 60_000);

  it('Ctrl-C while the lab is still being built removes what it made so far', async () => {
    panel = await startLabPanelProcess();
    await waitFor('the lab to start building', () => panel!.output().includes('lab: building network namespaces') || undefined, 30_000);
    await waitFor('the first lab namespaces', async () => ((await leftovers()).namespaces.length > 0 ? true : undefined), 30_000);
    const code = await panel.stop('SIGINT');
    panel = undefined;
    expect(code).toBe(0);
    expect(await leftovers()).toEqual(nothingLeft);
  }, 120_000);
});
