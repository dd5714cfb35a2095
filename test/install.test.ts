// The agent installed from the panel as a person would on a fresh host: the one
// line the "Add a node" dialog shows, run in network namespaces whose only way
// out is a link to the panel (no package registry, no internet), into a scratch
// root directory. systemd is not running here, so install.sh runs the unit's
// ExecStartPre and ExecStart itself, with the unit's environment file and
// capability bounding set. The hosts then enroll, apply their state and carry
// L2 DSR traffic; running the line again upgrades the agent in place while a
// request loop goes through the VIP.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LAB, type Lab, type LabHost } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelTestsUnavailable } from '../apps/agent/test/support.ts';
import { AGENT_BINARY, ensureAgentRelease, RELEASE_DIR, releaseUnavailable } from '../apps/agent/test/release.ts';
import { startRequestLoop } from '../apps/agent/test/ha-support.ts';
import { labWebService, waitFor, type Api } from './support/control.ts';
import { createInstallLab, type InstallLab } from './support/install-lab.ts';

const unavailable = (await kernelTestsUnavailable()) ?? (await releaseUnavailable());
const MANAGEMENT_NET = 41;

describe.skipIf(unavailable)(`install from the panel${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let setup: InstallLab | undefined;
  let lab: Lab;
  let api: Api;
  let publicUrl: string;
  let command: string;
  let tokenId: string;
  const nodeIds = new Map<string, string>();

  const hosts = () => setup!.hosts();
  const root = (host: LabHost) => setup!.root(host);
  const agentPid = (host: LabHost) => setup!.agentPid(host);
  const install = (host: LabHost, line: string) => setup!.install(host, line);

  beforeAll(async () => {
    await ensureAgentRelease();
    setup = await createInstallLab({ prefix: 'i1', managementNet: MANAGEMENT_NET, releaseDir: RELEASE_DIR });
    ({ lab, api, publicUrl } = setup);
  }, 900_000);

  afterAll(async () => {
    await setup?.destroy();
  });

  it('serves the agent with its SHA-256 and the install script with its public URL', async () => {
    const manifest = (await (await fetch(`${publicUrl}/download/manifest.json`)).json()) as {
      files: { name: string; sha256: string; size: number }[];
    };
    const binary = manifest.files.find((f) => f.name === AGENT_BINARY.split('/').pop());
    expect(binary?.sha256).toBe(createHash('sha256').update(readFileSync(AGENT_BINARY)).digest('hex'));
    const sums = await (await fetch(`${publicUrl}/download/SHA256SUMS`)).text();
    expect(sums).toContain(`${binary!.sha256}  ${binary!.name}\n`);
    const script = await (await fetch(`${publicUrl}/install.sh`)).text();
    expect(script).toContain(`server='${publicUrl}'`);
    expect((await fetch(`${publicUrl}/download/..%2F..%2Fpackage.json`)).status).toBe(404);
  });

  it('the line from "Add a node" installs, enrolls and starts the agent on each host', async () => {
    const created = await api.tokens.create.mutate({ maxUses: 3, description: 'install test' });
    ({ command } = created);
    tokenId = created.id;
    // The lab's panel is plain http on the management link: the line says --insecure (and the dialog warns).
    expect(command).toBe(`curl -fsSL ${publicUrl}/install.sh | sudo sh -s -- --token ${created.token} --insecure`);
    expect(created.publicUrlIsPlainHttp).toBe(true);
    expect(created.publicUrlIsLoopback).toBe(false);
    for (const h of hosts()) {
      const r = await install(h, `${command} --name ${h.name}`);
      expect(r.stderr).toContain('is running without systemd');
    }
    for (const h of hosts()) {
      const node = await waitFor(
        `${h.name} online`,
        async () => (await api.nodes.list.query()).find((n) => n.name === h.name && n.online && n.inSync),
        30_000,
      );
      nodeIds.set(h.name, node.id);
    }
    // One multi-use token enrolled the three, and is used up.
    const token = (await api.tokens.list.query()).find((t) => t.id === tokenId)!;
    expect({ usesLeft: token.usesLeft, usable: token.usable, nodes: token.nodes.map((n) => n.name).sort() }).toEqual({
      usesLeft: 0,
      usable: false,
      nodes: ['b1', 'b2', 'lb1'],
    });

    const lb1Root = root(lab.balancers[0]!);
    expect(readFileSync(join(lb1Root, 'usr/bin/tula-agent')).equals(readFileSync(AGENT_BINARY))).toBe(true);
    expect(readFileSync(join(lb1Root, 'etc/default/tula-agent'), 'utf8')).toContain(`TULA_SERVER=${publicUrl}\n`);
    expect(statSync(join(lb1Root, 'var/lib/tula-agent/credential.json')).mode & 0o777).toBe(0o600);
    // Root's user id, but only the unit's capabilities: CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
    const caps = readFileSync(`/proc/${agentPid(lab.balancers[0]!)}/status`, 'utf8');
    expect(/^CapEff:\s*(\w+)$/m.exec(caps)?.[1]).toBe('0000000000003000');
    expect(/^CapBnd:\s*(\w+)$/m.exec(caps)?.[1]).toBe('0000000000003000');
    // The journal gets one JSON object per line.
    const logLines = readFileSync(join(lb1Root, 'var/log/tula-agent.log'), 'utf8').trim().split('\n');
    expect(logLines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContainEqual(expect.stringMatching(/^applied version \d+/));
  }, 300_000);

  it('the installed agents carry L2 DSR traffic', async () => {
    await api.nodes.setRole.mutate({ id: nodeIds.get('lb1')!, role: 'balancer' });
    for (const b of lab.backends) await api.nodes.setRole.mutate({ id: nodeIds.get(b.name)!, role: 'backend' });
    await api.services.create.mutate(labWebService(lab, nodeIds.get('lb1')!, { intervalMs: 500, timeoutMs: 300, fall: 2 }));
    await waitFor(
      'every node to apply the service',
      async () => {
        const nodes = await api.nodes.list.query();
        return nodes.length === 3 && nodes.every((n) => n.inSync && !n.lastError && n.appliedVersion === n.desiredVersion)
          ? nodes
          : undefined;
      },
      30_000,
    );
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++)
      seen.add((await lab.exec(lab.client.ns, ['curl', '-sS', '--max-time', '3', `http://${LAB.l2Vip.v4}/`])).stdout.trim());
    expect([...seen].sort()).toEqual(['b1', 'b2']);
  }, 120_000);

  it('run again, the line upgrades every agent in place while traffic keeps flowing', async () => {
    // The request loop's own --timeout default (2 s) for each request.
    const loop = await startRequestLoop(lab, `http://${LAB.l2Vip.v4}/`, 2000);
    const before = new Map(hosts().map((h) => [h.name, { pid: agentPid(h), inode: statSync(join(root(h), 'usr/bin/tula-agent')).ino }]));
    await new Promise((r) => setTimeout(r, 1000));
    // Without --token: the host is enrolled already.
    for (const h of hosts()) {
      const r = await install(h, command.replace(/ --token \S+/, ''));
      expect(r.stderr).toContain('stopping the running agent');
    }
    await waitFor(
      'every node back online and in sync',
      async () => {
        const nodes = await api.nodes.list.query();
        return nodes.length === 3 && nodes.every((n) => n.online && n.inSync && !n.lastError) ? nodes : undefined;
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const result = await loop.stop();
    console.log(`install: ${result.sent} requests through the VIP while 3 agents were upgraded, ${result.failed} failed`);
    expect(result.failures).toEqual([]);
    expect(result.sent).toBeGreaterThan(20);
    for (const h of hosts()) {
      // A new process from a new file, the same node (no second enrollment).
      expect(agentPid(h)).not.toBe(before.get(h.name)!.pid);
      expect(statSync(join(root(h), 'usr/bin/tula-agent')).ino).not.toBe(before.get(h.name)!.inode);
    }
    expect((await api.nodes.list.query()).map((n) => n.id).sort()).toEqual([...nodeIds.values()].sort());
  }, 300_000);
});
