// Upgrading agents from the panel. Hosts in network namespaces (reaching only the
// panel) get an older-numbered agent with the one line from "Add a node", as in
// install.test.ts; the panel then serves the current build and is asked, over its
// API, to upgrade them. Each agent downloads the binary from /download, checks the
// SHA-256 the panel sent it, replaces its file and restarts, while a request loop
// goes through the VIP. A download altered in transit and a binary directory the
// agent may not write to are refused, with the old agent still running.
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LAB, type Lab, type LabHost } from '@tula/netlab';
import { TULA_VERSION } from '@tula/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelTestsUnavailable } from '../apps/agent/test/support.ts';
import { AGENT_BINARY, ensureAgentRelease, RELEASE_DIR, releaseUnavailable } from '../apps/agent/test/release.ts';
import { startRequestLoop } from '../apps/agent/test/ha-support.ts';
import { labWebService, waitFor, type Api } from './support/control.ts';
import { createInstallLab, type InstallLab } from './support/install-lab.ts';

const unavailable = (await kernelTestsUnavailable()) ?? (await releaseUnavailable());
const MANAGEMENT_NET = 53;
const OLD_VERSION = '0.0.9-upgrade-test';
const OLD_RELEASE_DIR = RELEASE_DIR.replace(/release$/, 'release-old');
const BINARY_NAME = AGENT_BINARY.split('/').pop()!;
/** Whole seconds: a file's time set to it twice is the same time to the digest cache. */
const FIXED_TIME = Math.floor(Date.now() / 1000) - 3600;

describe.skipIf(unavailable)(`agent upgrades from the panel${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let setup: InstallLab | undefined;
  let lab: Lab;
  let api: Api;
  /** What the panel serves under /download: first the old build, then the current one. */
  let served: string;
  const nodeIds = new Map<string, string>();

  const hosts = () => setup!.hosts();
  const root = (h: LabHost) => setup!.root(h);
  const agentPid = (h: LabHost) => setup!.agentPid(h);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  /** The agent's file as installed (the path systemd's ExecStart names is a link to it). */
  const installed = (h: LabHost) => readFileSync(join(root(h), 'usr/bin/tula-agent'));
  const serve = (dir: string) => {
    for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(served, f));
  };
  const binaryServed = () => join(served, BINARY_NAME);
  const node = async (name: string) => (await api.nodes.list.query()).find((n) => n.name === name)!;

  beforeAll(async () => {
    await ensureAgentRelease();
    // The same sources, numbered older: what the hosts run before the upgrade.
    await promisify(execFile)(
      'flock',
      [
        '/tmp/tula-agent-release.lock',
        'sh',
        RELEASE_DIR.replace(/dist\/release$/, 'packaging/build-release.sh'),
        '--if-stale',
        '--binary-only',
      ],
      { env: { ...process.env, TULA_AGENT_VERSION: OLD_VERSION, TULA_RELEASE_OUT: OLD_RELEASE_DIR }, timeout: 600_000 },
    );
    served = mkdtempSync(join(tmpdir(), 'tula-upgrade-release-'));
    serve(OLD_RELEASE_DIR);
    setup = await createInstallLab({ prefix: 'upg', managementNet: MANAGEMENT_NET, releaseDir: served });
    ({ lab, api } = setup);
  }, 900_000);

  afterAll(async () => {
    await setup?.destroy();
    if (served) rmSync(served, { recursive: true, force: true });
  });

  it('installs the older agent on each host and shows it outdated against the panel', async () => {
    const { command } = await api.tokens.create.mutate({ maxUses: 3, description: 'upgrade test' });
    for (const h of hosts()) {
      await setup!.install(h, `${command} --name ${h.name}`);
    }
    for (const h of hosts()) {
      const n = await waitFor(`${h.name} online`, async () => {
        const n = await node(h.name);
        return n?.online && n.inSync ? n : undefined;
      });
      nodeIds.set(h.name, n.id);
      expect({ agentVersion: n.agentVersion, outdated: n.agentOutdated, panelVersion: n.panelVersion }).toEqual({
        agentVersion: OLD_VERSION,
        outdated: true,
        panelVersion: TULA_VERSION,
      });
    }
    await api.nodes.setRole.mutate({ id: nodeIds.get('lb1')!, role: 'balancer' });
    for (const b of lab.backends) await api.nodes.setRole.mutate({ id: nodeIds.get(b.name)!, role: 'backend' });
    await api.services.create.mutate(labWebService(lab, nodeIds.get('lb1')!, { intervalMs: 500, timeoutMs: 300, fall: 2 }));
    await waitFor(
      'every node to apply the service',
      async () => {
        const nodes = await api.nodes.list.query();
        return nodes.length === 3 && nodes.every((n) => n.inSync && !n.lastError && n.appliedVersion === n.desiredVersion);
      },
      30_000,
    );
  }, 300_000);

  it('reports that it may not write its binary directory, and keeps running', async () => {
    const b1 = lab.backends[0]!;
    const dir = join(root(b1), 'usr/lib/tula-agent');
    const pid = agentPid(b1);
    // The panel now serves the current build; the gateway reads its digest when it sends this order.
    serve(RELEASE_DIR);
    utimesSync(binaryServed(), FIXED_TIME, FIXED_TIME);
    // The agent runs as root without CAP_DAC_OVERRIDE (the unit's bounding set): the mode applies to it.
    chmodSync(dir, 0o555);
    try {
      await api.nodes.upgrade.mutate({ id: nodeIds.get('b1')! });
      const failed = await waitFor('the upgrade of b1 to fail', async () => {
        const n = await node('b1');
        return n.upgrade?.state === 'failed' ? n : undefined;
      });
      expect(failed.upgrade?.message).toContain(`cannot write ${dir}`);
      expect(alive(pid) && agentPid(b1) === pid).toBe(true);
    } finally {
      chmodSync(dir, 0o755);
    }
  }, 120_000);

  it('refuses a download that does not match its SHA-256 and keeps the old agent running', async () => {
    // The gateway took the file's digest for the order before (keyed by size and time); now its bytes
    // change with neither: what the agent downloads differs from what the panel vouched for, as a
    // download altered on the way would.
    const fd = openSync(binaryServed(), 'r+');
    writeSync(fd, Buffer.from('altered'), 0, 7, 4096);
    closeSync(fd);
    utimesSync(binaryServed(), FIXED_TIME, FIXED_TIME);

    const lb1 = lab.balancers[0]!;
    const pid = agentPid(lb1);
    const before = installed(lb1);
    await api.nodes.upgrade.mutate({ id: nodeIds.get('lb1')! });
    const failed = await waitFor('the upgrade of lb1 to fail', async () => {
      const n = await node('lb1');
      return n.upgrade?.state === 'failed' ? n : undefined;
    });
    expect(failed.upgrade?.message).toMatch(/SHA-256/);
    expect(failed.agentVersion).toBe(OLD_VERSION);
    expect(alive(pid) && agentPid(lb1) === pid).toBe(true);
    expect(installed(lb1).equals(before)).toBe(true);
    serve(RELEASE_DIR);
  }, 120_000);

  it('upgrades every agent while a request loop through the VIP has no failure', async () => {
    // The request loop's own --timeout default (2 s) for each request.
    const loop = await startRequestLoop(lab, `http://${LAB.l2Vip.v4}/`, 2000);
    const old = readFileSync(join(OLD_RELEASE_DIR, BINARY_NAME));
    const pids = new Map(hosts().map((h) => [h.name, agentPid(h)]));
    await new Promise((r) => setTimeout(r, 1000));
    for (const h of hosts()) await api.nodes.upgrade.mutate({ id: nodeIds.get(h.name)! });
    const nodes = await waitFor(
      'every node on the new version, online and in sync',
      async () => {
        const nodes = await api.nodes.list.query();
        return nodes.every((n) => n.agentVersion === TULA_VERSION && n.online && n.inSync && n.upgrade?.state === 'done')
          ? nodes
          : undefined;
      },
      120_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const result = await loop.stop();
    console.log(`upgrade: ${result.sent} requests through the VIP while 3 agents upgraded from the panel, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    expect(result.sent).toBeGreaterThan(20);
    expect(nodes.map((n) => n.agentOutdated)).toEqual([false, false, false]);
    const current = readFileSync(AGENT_BINARY);
    for (const h of hosts()) {
      expect(installed(h).equals(current)).toBe(true);
      // The previous binary stays beside it, for a rollback.
      expect(readFileSync(join(root(h), 'usr/lib/tula-agent/tula-agent.previous')).equals(old)).toBe(true);
      expect(agentPid(h)).not.toBe(pids.get(h.name));
      expect(alive(agentPid(h))).toBe(true);
    }
  }, 300_000);
});
