// Hosts that install the agent from a panel as a person would (install.test.ts,
// upgrade.test.ts, systemd.test.ts): a namespace lab whose balancer and backends
// reach the panel only through their management links, one panel process with
// its own database serving a release directory, a signed-up account, and a
// scratch root directory per host for install.sh (TULA_INSTALL_ROOT).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { createLab, type Lab, type LabHost } from '@tula/netlab';
import { apiClient, signUp, type Api } from './control.ts';
import { freePort, startPanel, type PanelProcess } from './panel.ts';

export interface InstallLabOptions {
  /** Names this lab's namespaces, scratch directories and account. */
  prefix: string;
  /** Third octet of the management links (10.254.N.0/24), distinct per test file. */
  managementNet: number;
  /** What the panel serves under /download and /install.sh (TULA_AGENT_RELEASE_DIR). */
  releaseDir: string;
  backends?: number;
}

export interface InstallLab {
  db: TestDatabase;
  lab: Lab;
  panel: PanelProcess;
  /** The panel's public URL, as the hosts reach it. */
  publicUrl: string;
  api: Api;
  /** The balancer, then the backends. */
  hosts(): LabHost[];
  /** The host's scratch root directory (install.sh's TULA_INSTALL_ROOT). */
  root(host: LabHost): string;
  /** The pid install.sh recorded for the agent it started without systemd. */
  agentPid(host: LabHost): number;
  /** Runs the line "Add a node" shows on the host, as root (the test is root: `sudo` would drop TULA_INSTALL_ROOT). */
  install(host: LabHost, line: string): ReturnType<Lab['exec']>;
  /** Stops the agents install.sh started, the panel, the lab; drops the database and the roots. */
  destroy(): Promise<void>;
}

export async function createInstallLab(options: InstallLabOptions): Promise<InstallLab> {
  const { prefix, managementNet, releaseDir } = options;
  const roots = new Map<string, string>();
  let db: TestDatabase | undefined;
  let lab: Lab | undefined;
  let panel: PanelProcess | undefined;

  const root = (h: LabHost) => {
    const dir = roots.get(h.name);
    if (!dir) throw new Error(`no install root for ${h.name}`);
    return dir;
  };
  const agentPid = (h: LabHost) => Number(readFileSync(join(root(h), 'run/tula-agent.pid'), 'utf8'));
  const destroy = async () => {
    for (const h of lab ? [...lab.balancers, ...lab.backends] : []) {
      try {
        process.kill(agentPid(h), 'SIGTERM');
      } catch {
        // not installed, or already gone
      }
    }
    await lab?.destroy();
    await panel?.stop();
    await db?.drop();
    for (const dir of roots.values()) rmSync(dir, { recursive: true, force: true });
  };

  try {
    db = await createTestDatabase();
    lab = await createLab({ prefix, backends: options.backends ?? 2, managementNet });
    // Every host reaches the panel at one address (the root side of the balancer's
    // link), through its own management link.
    const panelAddress = await lab.connectToHost(lab.balancers[0]!);
    for (const b of lab.backends) {
      const rootSide = await lab.connectToHost(b);
      await lab.exec(b.ns, ['ip', 'route', 'add', `10.254.${managementNet}.0/24`, 'via', rootSide]);
    }
    const port = await freePort();
    const publicUrl = `http://${panelAddress}:${port}`;
    panel = await startPanel(
      {
        DATABASE_URL: db.url,
        TULA_AUTH_SECRET: `${prefix}-`.repeat(40).slice(0, 40),
        HOST: '0.0.0.0',
        TULA_PUBLIC_URL: publicUrl,
        TULA_AGENT_RELEASE_DIR: releaseDir,
      },
      90_000,
      { port },
    );
    const api = apiClient(publicUrl, await signUp(publicUrl, `${prefix}-${Date.now()}@example.com`));
    const theLab = lab;
    const hosts = () => [...theLab.balancers, ...theLab.backends];
    for (const h of hosts()) roots.set(h.name, mkdtempSync(join(tmpdir(), `tula-${prefix}-${h.name}-`)));
    return {
      db,
      lab,
      panel,
      publicUrl,
      api,
      hosts,
      root,
      agentPid,
      install: (h, line) =>
        theLab.exec(h.ns, ['sh', '-c', line.replace('| sudo sh -s --', '| sh -s --')], {
          env: { ...process.env, TULA_INSTALL_ROOT: root(h) },
        }),
      destroy,
    };
  } catch (e) {
    await destroy().catch(() => undefined);
    throw e;
  }
}
