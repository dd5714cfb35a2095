// Promise: the data plane never depends on the control plane. A client loop
// sends requests through a VIP while, one at a time, the panel is killed and
// restarted, the balancer's agent is killed and restarted, PostgreSQL restarts,
// and the balancer's link to the panel is cut for 30 s. Not one request may
// fail, the fleet must reconverge after each fault (including to a change made
// while the balancer was cut off), and the counters must add up.
// The panel gets its own PostgreSQL server, so restarting it touches no other test.
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLab, LAB, type Lab } from '@tula/netlab';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRequestLoop } from '../apps/agent/test/ha-support.ts';
import { apiClient, enrollLab, labWebService, signUp, startAgent, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { freePort, startPanel, type PanelProcess } from './support/panel.ts';

const run = promisify(execFile);
const unavailable =
  process.getuid?.() !== 0
    ? 'needs root for network namespaces, nftables and a private PostgreSQL (run the suite as root, as CI does)'
    : undefined;

/** A PostgreSQL server of its own in a temporary directory, run as the postgres user. */
class PrivatePostgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'tula-pg-'));
  private readonly bin = `/usr/lib/postgresql/${readdirSync('/usr/lib/postgresql')
    .sort((a, b) => Number(a) - Number(b))
    .at(-1)}/bin`;
  constructor(readonly port: number) {
    chmodSync(this.dir, 0o777);
  }
  get url() {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }
  private pgCtl(...args: string[]) {
    return run('runuser', [
      '-u',
      'postgres',
      '--',
      `${this.bin}/pg_ctl`,
      '-D',
      join(this.dir, 'data'),
      '-w',
      '-l',
      join(this.dir, 'log'),
      ...args,
    ]);
  }
  async start() {
    await run('runuser', ['-u', 'postgres', '--', `${this.bin}/initdb`, '-D', join(this.dir, 'data'), '--auth=trust', '-U', 'postgres']);
    await this.pgCtl('-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`, 'start');
  }
  restart() {
    return this.pgCtl('-m', 'fast', 'restart');
  }
  async stop() {
    await this.pgCtl('-m', 'immediate', 'stop').catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe.skipIf(unavailable)(`faults (${unavailable ?? 'real panel, agents, kernels and PostgreSQL'})`, () => {
  let postgres: PrivatePostgres;
  let panel: PanelProcess;
  let lab: Lab;
  let api: Api;
  let loop: Awaited<ReturnType<typeof startRequestLoop>> | undefined;
  let agents = new Map<string, AgentProcess>();
  let servers = new Map<string, string>();
  let serviceId = '';
  const env = () => ({ DATABASE_URL: postgres.url, TULA_AUTH_SECRET: 'f'.repeat(40), HOST: '0.0.0.0', TULA_ENROLLMENTS_PER_MINUTE: '100' });

  const converged = (what: string) =>
    waitFor(
      `every node to apply its document (${what})`,
      async () => {
        const nodes = await api.nodes.list.query();
        return nodes.length === agents.size && nodes.every((n) => n.online && n.inSync && !n.lastError) ? nodes : undefined;
      },
      60_000,
    );

  beforeAll(async () => {
    postgres = new PrivatePostgres(await freePort());
    await postgres.start();
    panel = await startPanel(env());
    api = apiClient(panel.url, await signUp(panel.url, 'faults@example.com'));
    lab = await createLab({ prefix: 'tflt', managementNet: 31 });
    const fleet = await enrollLab(api, lab, panel.port);
    ({ agents, servers } = fleet);
    ({ id: serviceId } = await api.services.create.mutate(
      labWebService(lab, fleet.nodeIds.get('lb1')!, { intervalMs: 1000, timeoutMs: 500, fall: 3 }),
    ));
    await converged('the service');
    // The request loop's own --timeout default (2 s) for each request.
    loop = await startRequestLoop(lab, `http://${LAB.l2Vip.v4}/`, 2000);
  }, 240_000);

  afterAll(async () => {
    // Stopped by the last test unless an earlier one failed; stopping it again only reads its result again.
    await loop?.stop().catch(() => undefined);
    for (const a of agents.values()) await a.stop();
    await lab?.destroy();
    await panel?.stop('SIGKILL');
    await postgres?.stop();
  });

  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('kill -9 the panel, then start it again', async () => {
    await pause(2000);
    const port = panel.port;
    await panel.stop('SIGKILL');
    await pause(3000);
    panel = await startPanel(env(), 90_000, { port });
    await converged('after the panel restart');
  }, 120_000);

  it("kill -9 the balancer's agent, then start it again (its credential is on disk)", async () => {
    const old = agents.get('lb1')!;
    await old.stop('SIGKILL');
    await pause(3000);
    agents.set(
      'lb1',
      startAgent({
        server: servers.get('lb1')!,
        name: 'lb1',
        netns: lab.balancers[0]!.ns,
        dryRun: false,
        stateDir: old.stateDir,
        extra: ['--insecure'],
      }),
    );
    await converged('after the agent restart');
  }, 120_000);

  it('restart PostgreSQL', async () => {
    await postgres.restart();
    await pause(2000);
    // The panel must work on: a change still reaches the balancer.
    await api.services.setBackendState.mutate({ serviceId, address: lab.backends[2]!.v4, state: 'draining' });
    await converged('after the PostgreSQL restart');
    await api.services.setBackendState.mutate({ serviceId, address: lab.backends[2]!.v4, state: 'active' });
    await converged('after a change on the restarted database');
  }, 120_000);

  it("cut the balancer's link to the panel for 30 s, changing the service meanwhile", async () => {
    const lb = lab.balancers[0]!;
    await lab.exec(lb.ns, ['ip', 'link', 'set', 'm0', 'down']);
    try {
      await api.services.setBackendState.mutate({ serviceId, address: lab.backends[0]!.v4, state: 'draining' });
      await pause(30_000);
    } finally {
      await lab.exec(lb.ns, ['ip', 'link', 'set', 'm0', 'up']);
    }
    await converged('after the link came back');
    const b1 = (await api.services.get.query({ id: serviceId })).backends.find((b) => b.address === lab.backends[0]!.v4);
    expect(b1?.state).toBe('draining');
  }, 150_000);

  it('not one request failed, and the counters add up', async () => {
    const result = await loop!.stop();
    console.log(`faults: ${result.sent} requests sent through the VIP across 4 faults, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    expect(result.sent).toBeGreaterThan(1000);

    // Every packet the balancer's kernel counted reaches the database once: the
    // agent resends unacknowledged reports and the panel drops duplicates.
    await pause(4000);
    const lb = agents.get('lb1')!;
    const status = JSON.parse(
      (await lab.exec(lab.balancers[0]!.ns, ['node_modules/.bin/tula-agent', 'status', '--state-dir', lb.stateDir])).stdout,
    ) as {
      counters: { services: Record<string, { packets: number }> };
    };
    const kernel = status.counters.services.web!.packets;
    const sql = new pg.Client({ connectionString: postgres.url });
    await sql.connect();
    const { rows } = await sql.query<{ packets: string }>(
      `SELECT COALESCE(sum(packets), 0)::text AS packets FROM "CounterSample" WHERE kind = 'service' AND "seriesKey" = $1`,
      [serviceId],
    );
    await sql.end();
    const stored = Number(rows[0]!.packets);
    console.log(`faults: the balancer's kernel counted ${kernel} packets for the service, the database holds ${stored}`);
    expect(stored).toBe(kernel);
  }, 60_000);
});
