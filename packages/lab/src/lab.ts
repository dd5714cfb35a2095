// The local lab behind README command 1: network namespaces for a client, a
// balancer and three backends, real agents enrolled into a demo organisation,
// two services (L2 TCP with large responses, L3 VXLAN UDP) and a bounded traffic
// generator. It drives the panel through the same API procedures people use.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createCaller, type LabControl, type PanelServices } from '@tula/api';
import { createLab, LAB, removeNamespaces, type Lab, type LabHost } from '@tula/netlab';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const AGENT = `${repoRoot}node_modules/.bin/tula-agent`;
export const LAB_PREFIX = 'lab';
/** The demo login; the lab is local to this machine, so a fixed password serves. */
export const LAB_DEMO = { email: 'demo@example.com', password: 'tula-lab-demo', name: 'Lab demo' } as const;

export interface LocalLab extends LabControl {
  destroy(): Promise<void>;
}

/**
 * Removes everything a local lab made, whether it runs, failed half-way or
 * crashed: its namespaces, and with them the processes, devices and rules inside.
 */
export function removeLocalLab(): Promise<void> {
  return removeNamespaces(LAB_PREFIX);
}

/** Why the lab cannot run here, or undefined when it can. */
export async function labAvailability(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'the lab needs Linux (network namespaces and nftables)';
  if (process.getuid?.() !== 0) return 'the lab needs root to create network namespaces: run `sudo npm start`';
  try {
    await promisify(execFile)('nft', ['--version']);
    await promisify(execFile)('ip', ['-V']);
  } catch {
    return 'the lab needs nftables and iproute2: `sudo apt-get install nftables iproute2`, then `sudo npm start`';
  }
  return undefined;
}

/** The panel URL an agent state directory is enrolled with, if any. */
function enrolledWith(stateDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(stateDir, 'credential.json'), 'utf8')) as { server?: string }).server;
  } catch {
    return undefined;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal?.throwIfAborted();
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`lab: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function startLocalLab(
  services: PanelServices,
  /** `signal`: stop building (the panel is shutting down); the caller then removes what was made. */
  options: { port: number; dataDir: string; log: (m: string) => void; trafficMinutes?: number; signal?: AbortSignal },
): Promise<LocalLab> {
  const { signal } = options;
  signal?.throwIfAborted();
  const { db, auth } = services;
  const log = options.log;

  // The demo account and its organisation (kept across runs, trial kept open).
  let user = await db.prisma.user.findUnique({ where: { email: LAB_DEMO.email } });
  if (!user) {
    await auth.api.signUpEmail({ body: { email: LAB_DEMO.email, password: LAB_DEMO.password, name: LAB_DEMO.name } });
    user = await db.prisma.user.findUniqueOrThrow({ where: { email: LAB_DEMO.email } });
  }
  const membership = await db.prisma.membership.findFirstOrThrow({ where: { userId: user.id }, orderBy: { createdAt: 'asc' } });
  const org = await db.prisma.organization.update({
    where: { id: membership.organizationId },
    data: { name: 'Lab demo', trialEndsAt: new Date(Date.now() + 365 * 86_400_000) },
  });
  const api = createCaller({ ...services, user: { id: user.id, email: user.email, name: user.name }, org: { id: org.id, role: 'owner', trialEndsAt: org.trialEndsAt } });

  log('lab: building network namespaces (client, router, balancer, 3 backends)');
  const lab: Lab = await createLab({ prefix: LAB_PREFIX, managementNet: 200 });
  const balancer = lab.balancers[0]!;
  // The router sends both VIPs to the balancer, so a service can switch between L2 and L3.
  for (const vip of [LAB.l2Vip.v4, LAB.l3Vip.v4]) await lab.exec(lab.router.ns, ['ip', 'route', 'replace', `${vip}/32`, 'via', balancer.v4]);
  signal?.throwIfAborted();

  const agents: ChildProcess[] = [];
  let traffic: ChildProcess | undefined;
  const hosts: LabHost[] = [balancer, ...lab.backends];
  const spawnedAt = new Date();
  for (const host of hosts) {
    const stateDir = join(options.dataDir, 'lab', 'agents', host.name);
    const server = `http://${await lab.connectToHost(host)}:${options.port}`;
    // An agent stays with the panel it enrolled with; a lab panel on another port starts its agents afresh.
    if (enrolledWith(stateDir) !== server) rmSync(stateDir, { recursive: true, force: true });
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    // --insecure: plain http over the management link, a veth pair inside this machine.
    const args = ['run', '--server', server, '--insecure', '--name', host.name, '--state-dir', stateDir];
    if (!existsSync(join(stateDir, 'credential.json'))) {
      // A node of that name from an earlier lab whose state is gone: replace it.
      const old = await db.prisma.node.findUnique({ where: { organizationId_name: { organizationId: org.id, name: host.name } } });
      if (old) {
        if (!old.revokedAt) await api.nodes.revoke({ id: old.id });
        await api.nodes.delete({ id: old.id });
      }
      args.push('--token', (await api.tokens.create({ description: `lab ${host.name}` })).token);
    }
    const logFile = openSync(join(options.dataDir, 'lab', 'agents', `${host.name}.log`), 'a');
    signal?.throwIfAborted();
    agents.push(spawn('ip', ['netns', 'exec', host.ns, AGENT, ...args], { stdio: ['ignore', logFile, logFile] }));
  }
  const nodes = await waitFor(
    'the lab agents to connect',
    async () => {
      const rows = (await api.nodes.list()).filter((n) => hosts.some((h) => h.name === n.name));
      // Connected to this panel since the agents started (not a report from an earlier run).
      return rows.length === hosts.length && rows.every((n) => n.online && n.lastSeenAt && n.lastSeenAt >= spawnedAt) ? rows : undefined;
    },
    90_000,
    signal,
  );
  const idOf = (name: string) => nodes.find((n) => n.name === name)!.id;
  await api.nodes.setRole({ id: idOf(balancer.name), role: 'balancer' });
  for (const b of lab.backends) await api.nodes.setRole({ id: idOf(b.name), role: 'backend' });

  const backends = lab.backends.map((b) => ({ address: b.v4, port: null, weight: 1, state: 'active' as const, nodeId: null }));
  const common = { ingressInterface: null, drainTimeoutS: 30, mss: null, balancerNodeIds: [idOf(balancer.name)], backends };
  const wanted = [
    {
      name: 'lab-web',
      vip: LAB.l2Vip.v4,
      ports: '80',
      protocol: 'tcp' as const,
      mode: 'l2' as const,
      tunnel: 'vxlan' as const,
      healthCheck: { type: 'http' as const, port: null, path: '/', expectStatus: 200, payload: null, expect: null, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 },
      ...common,
    },
    {
      name: 'lab-dns',
      vip: LAB.l3Vip.v4,
      ports: '5353',
      protocol: 'udp' as const,
      mode: 'l3' as const,
      tunnel: 'vxlan' as const,
      healthCheck: { type: 'udp' as const, port: null, path: null, expectStatus: null, payload: 'size:16', expect: null, intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 2 },
      ...common,
    },
  ];
  const existing = await api.services.list();
  for (const s of wanted) {
    const old = existing.find((e) => e.name === s.name);
    if (old) await api.services.update({ id: old.id, service: s });
    else await api.services.create(s);
  }
  await waitFor(
    'the lab services to be applied',
    async () => {
      const list = await api.services.list();
      return list.filter((s) => s.name.startsWith('lab-')).every((s) => s.rollout.nodes > 0 && s.rollout.applied === s.rollout.nodes && s.rollout.errors.length === 0) ? true : undefined;
    },
    60_000,
    signal,
  );

  traffic = lab.spawn(lab.client.ns, [
    process.execPath, '--import', 'tsx', `${repoRoot}packages/netlab/src/traffic.ts`,
    '--http', LAB.l2Vip.v4, '--udp', `${LAB.l3Vip.v4}:5353`, '--minutes', String(options.trafficMinutes ?? 60),
  ]);
  const serving = new Map(lab.backends.map((b) => [b.name, true]));
  log(`lab: ready: traffic flows to ${LAB.l2Vip.v4}:80 (L2, TCP) and ${LAB.l3Vip.v4}:5353 (L3 VXLAN, UDP)`);

  return {
    organizationId: org.id,
    status: () => ({
      backends: lab.backends.map((b) => ({ name: b.name, address: b.v4, serving: serving.get(b.name) ?? false })),
      traffic: traffic !== undefined && traffic.exitCode === null,
    }),
    async setBackendServing(name, on) {
      const b = lab.backends.find((x) => x.name === name);
      if (!b) throw new Error(`no lab backend ${name}`);
      if (on && !serving.get(name)) await lab.startServer(b);
      if (!on && serving.get(name)) await lab.stopServer(b);
      serving.set(name, on);
    },
    async destroy() {
      traffic?.kill('SIGTERM');
      for (const a of agents) a.kill('SIGTERM');
      await lab.destroy();
    },
  };
}
