// Debian's Prometheus, configured from docs/monitoring/prometheus.yml, scrapes a
// running panel (with its bearer scrape token) and the agents of a namespace lab.
// A service's bytes over a window, in PromQL, equal what the panel's API reports
// for the same window; every metric the Grafana dashboard (docs/monitoring/
// grafana-dashboard.json) queries exists, and every query parses.
//
// The window starts and ends with no traffic through the VIP (health checks go
// from the balancer to the backends directly, not through the VIP), so both
// sides have read the kernel's counters after the last packet and must agree
// exactly: Prometheus after a scrape (every second here, read 4 s after the
// traffic), the panel after the agent's report (every second, acknowledged once
// stored). The only slack is scrape timing, which the quiet ends remove.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { createLab, LAB, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { apiClient, enrollLab, labWebService, signUp, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { freePort, startPanel, type PanelProcess } from './support/panel.ts';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const PROMETHEUS = '/usr/bin/prometheus';
const METRICS_PORT = 9105;
const unavailable =
  process.getuid?.() !== 0
    ? 'needs root for network namespaces and nftables (run the suite as root, as CI does)'
    : !existsSync(PROMETHEUS)
      ? `${PROMETHEUS} is missing (apt-get install prometheus; scripts/test.sh installs it)`
      : undefined;

interface Dashboard {
  panels: { title: string; targets: { expr: string }[] }[];
}

describe.skipIf(unavailable)(`Prometheus and Grafana${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let db: TestDatabase;
  let panel: PanelProcess;
  let lab: Lab;
  let api: Api;
  let agents = new Map<string, AgentProcess>();
  let nodeIds = new Map<string, string>();
  let prometheus: ChildProcess;
  let promUrl: string;
  let promLog = '';
  const token = 'm'.repeat(32);

  const query = async (expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: never[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${expr}: ${body.error}`);
    return body.data.result;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 'p'.repeat(40), HOST: '0.0.0.0', TULA_METRICS_TOKEN: token });
    api = apiClient(panel.url, await signUp(panel.url, `prom-${Date.now()}@example.com`));
    lab = await createLab({ prefix: 'ct2', managementNet: 57 });
    ({ agents, nodeIds } = await enrollLab(api, lab, panel.port, ['--metrics-port', String(METRICS_PORT)]));

    // The shipped configuration, pointed at this panel (plain http on loopback) and the lab's agents
    // (each reached over its management link: the host's side is the panel's address + 1).
    const dir = mkdtempSync(join(tmpdir(), 'tula-prometheus-'));
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    const config = YAML.parse(readFileSync(join(repoRoot, 'docs/monitoring/prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      scrape_configs: {
        job_name: string;
        scheme?: string;
        authorization?: { credentials_file: string };
        static_configs: { targets: string[] }[];
      }[];
    };
    config.global.scrape_interval = '1s';
    const agentTargets: string[] = [];
    for (const host of [...lab.balancers, ...lab.backends]) {
      const rootSide = await lab.connectToHost(host);
      const parts = rootSide.split('.').map(Number);
      agentTargets.push(`${parts.slice(0, 3).join('.')}.${parts[3]! + 1}:${METRICS_PORT}`);
    }
    for (const job of config.scrape_configs) {
      if (job.job_name === 'tula-panel') {
        job.scheme = 'http';
        job.authorization!.credentials_file = join(dir, 'token');
        job.static_configs = [{ targets: [`127.0.0.1:${panel.port}`] }];
      } else job.static_configs = [{ targets: agentTargets }];
    }
    writeFileSync(join(dir, 'prometheus.yml'), YAML.stringify(config));
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    await waitFor('Prometheus to answer', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok, 30_000);
  }, 240_000);

  afterAll(async () => {
    prometheus?.kill('SIGTERM');
    for (const a of agents.values()) await a.stop();
    await lab?.destroy();
    await panel?.stop();
    await db?.drop();
  });

  it("PromQL's bytes of a service over a window equal the panel's API for the same window", async () => {
    const { id: serviceId } = await api.services.create.mutate(
      labWebService(lab, nodeIds.get('lb1')!, { intervalMs: 500, timeoutMs: 300, fall: 2 }),
    );
    const expr = 'sum(tula_service_bytes_total{job="tula-agent", service="web"})';
    // Every target up (the panel's with its token), and the service's counter scraped.
    await waitFor(
      'every target scraped',
      async () => {
        const up = await query('up');
        return up.length === agents.size + 1 && up.every((u) => u.value[1] === '1') ? up : undefined;
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\nPrometheus log:\n${promLog.slice(-3000)}`);
    });
    await waitFor('the service counter in Prometheus', async () => (await query(expr)).length === 1, 60_000);

    const apiTotal = async () =>
      (await api.stats.series.query({ range: 'live', serviceId })).points.reduce((a, p) => a + (p.inbound ?? 0), 0); // live: 1 s points
    const quiet = () => new Promise((r) => setTimeout(r, 4000));
    // A scrape that times out on a busy machine marks the series stale for a moment: read it once it is back.
    const promTotal = () =>
      waitFor(
        'the service counter in Prometheus',
        async () => {
          const [sample] = await query(expr);
          return sample ? Number(sample.value[1]) : undefined;
        },
        60_000,
      );
    await quiet();
    const [prom0, api0] = [await promTotal(), await apiTotal()];
    for (let i = 0; i < 5; i++)
      await lab.exec(lab.client.ns, ['curl', '-sS', '-o', '/dev/null', '--max-time', '10', `http://${LAB.l2Vip.v4}/bytes/${256 * 1024}`]);
    await quiet();
    const [prom1, api1] = [await promTotal(), await apiTotal()];
    console.log(`window: Prometheus ${prom1 - prom0} bytes, panel API ${api1 - api0} bytes`);
    expect(prom1 - prom0).toBeGreaterThan(1000);
    expect(api1 - api0).toBe(prom1 - prom0);
  }, 180_000);

  it('every metric the Grafana dashboard queries exists, and every query parses', async () => {
    const dashboard = JSON.parse(readFileSync(join(repoRoot, 'docs/monitoring/grafana-dashboard.json'), 'utf8')) as Dashboard;
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr })));
    expect(exprs.length).toBeGreaterThan(5);
    const names = new Set(
      ((await (await fetch(`${promUrl}/api/v1/label/__name__/values`)).json()) as { data: string[] }).data.filter((n) =>
        n.startsWith('tula_'),
      ),
    );
    const missing: string[] = [];
    for (const { panel: title, expr } of exprs) {
      for (const m of expr.match(/\btula_[a-z_]+/g) ?? []) if (!names.has(m)) missing.push(`${title}: ${m}`);
      // Grafana's variables as Grafana would fill them in.
      await query(expr.replaceAll('$__rate_interval', '1m').replaceAll('$service', '.*'));
    }
    expect(missing).toEqual([]);
  });
});
