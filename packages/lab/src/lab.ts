// The local lab behind README command 1: network namespaces for a client, an
// upstream router (bird2, BGP with ECMP and BFD), two balancers and three
// backends, real agents enrolled into a demo organisation, two services on one
// routed VIP (TCP with large responses, UDP), both balancers announcing it, and
// a bounded traffic generator. It drives the panel through the same API
// procedures people use. A lab control kills a balancer as a host dies (its
// link down, its agent and bird killed with SIGKILL) and brings it back; the
// lab samples each balancer's link so the move shows.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createCaller, type LabControl, type PanelServices } from '@tula/api';
import { compiledEntry, createLab, LAB, netlabScript, removeNamespaces, startRouterBgp, type Lab, type LabHost } from '@tula/netlab';
import { z } from 'zod';
import { labSudoCommand } from './command.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/** The agent, compiled from this tree's source when the lab starts (see @tula/netlab's compiledEntry). */
const agentCommand = () => [process.execPath, compiledEntry(`${repoRoot}apps/agent/src/cli.ts`, 'tula-agent')];
/** The lab's agents serve Prometheus metrics on this port (docs/monitoring/prometheus.yml's). */
const AGENT_METRICS_PORT = 9105;

/**
 * A Prometheus scrape configuration for this lab, with the job names and labels of
 * docs/monitoring/prometheus.yml (the Grafana dashboard's queries use them): the panel at
 * 127.0.0.1 (its /metrics needs TULA_METRICS_TOKEN set when it starts, in the named file) and
 * each agent at its management address.
 */
function labScrapeConfig(panelPort: number, agents: { name: string; address: string }[]): string {
  return [
    '# Written by the local lab (README, "The local lab"): `prometheus --config.file=THIS_FILE`.',
    '# The panel job needs TULA_METRICS_TOKEN set when the panel starts, and that token in tula-metrics-token beside this file.',
    'global:',
    '  scrape_interval: 5s',
    'scrape_configs:',
    '  - job_name: tula-panel',
    '    authorization:',
    '      type: Bearer',
    '      credentials_file: tula-metrics-token',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${panelPort}']`,
    '  - job_name: tula-agent',
    '    static_configs:',
    ...agents.flatMap((a) => [`      - targets: ['${a.address}:${AGENT_METRICS_PORT}']`, `        labels: { node: '${a.name}' }`]),
    '',
  ].join('\n');
}

/**
 * Where the lab lives on this machine: its namespaces' name prefix and the third octet of its
 * management links (10.254.N.0/24). The defaults serve README command 1; a second lab on the
 * same machine at the same time (npm test's browser tests, beside test/lab.test.ts) takes others.
 */
const LabSettings = z.object({
  TULA_LAB_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9]{0,5}$/, 'TULA_LAB_PREFIX: 1-6 lower-case letters and digits, starting with a letter')
    .default('lab'),
  TULA_LAB_NET: z.coerce.number().int().min(0).max(255).default(200),
});

function readLabSettings(env: NodeJS.ProcessEnv = process.env): { prefix: string; managementNet: number } {
  const parsed = LabSettings.safeParse({ TULA_LAB_PREFIX: env.TULA_LAB_PREFIX || undefined, TULA_LAB_NET: env.TULA_LAB_NET || undefined });
  if (!parsed.success) throw new Error(`Invalid lab settings in the environment: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return { prefix: parsed.data.TULA_LAB_PREFIX, managementNet: parsed.data.TULA_LAB_NET };
}

const settings = readLabSettings();
/** This process's lab prefix (TULA_LAB_PREFIX, default `lab`). */
export const LAB_PREFIX = settings.prefix;
/** The lab router's AS and the balancers' (private AS numbers). */
const ROUTER_ASN = 65000;
const BALANCER_ASN = 65001;
/** BFD 100 ms × 3: the router drops a dead balancer's nexthop within ~0.3 s. */
const BFD = { intervalMs: 100, multiplier: 3 };
/** How many seconds of per-balancer traffic the lab keeps (one sample a second). */
const TRAFFIC_SECONDS = 120;
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
  if (process.getuid?.() !== 0) return `the lab needs root to create network namespaces: run \`${labSudoCommand('start')}\``;
  try {
    await promisify(execFile)('nft', ['--version']);
    await promisify(execFile)('ip', ['-V']);
    // The lab's router and balancers announce its VIP over BGP.
    await promisify(execFile)('bird', ['--version']);
  } catch {
    return `the lab needs nftables, iproute2 and bird2: \`sudo apt-get install nftables iproute2 bird2\`, then \`${labSudoCommand('start')}\``;
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

/**
 * The demo organisation's trial stays open: extended to a year whenever less
 * than 300 days are left, and recorded in its audit log, so the log and the
 * banner tell the same end date (not the 14 days the sign-up recorded).
 */
async function keepDemoTrialOpen(db: PanelServices['db'], organizationId: string) {
  const current = await db.prisma.organization.findUniqueOrThrow({ where: { id: organizationId } });
  if (current.name === 'Lab demo' && current.trialEndsAt.getTime() > Date.now() + 300 * 86_400_000) return current;
  const trialEndsAt = new Date(Date.now() + 365 * 86_400_000);
  const [org] = await db.prisma.$transaction([
    db.prisma.organization.update({ where: { id: organizationId }, data: { name: 'Lab demo', trialEndsAt } }),
    db.prisma.auditEvent.create({
      data: {
        organizationId,
        actorLabel: 'local lab',
        action: 'organization.trial_extend',
        targetType: 'organization',
        targetId: organizationId,
        data: { trialEndsAt: trialEndsAt.toISOString(), reason: 'the local lab keeps its demo organisation open' },
      },
    }),
  ]);
  return org;
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
  const org = await keepDemoTrialOpen(db, membership.organizationId);
  const api = createCaller({
    ...services,
    user: { id: user.id, email: user.email, name: user.name },
    org: { id: org.id, role: 'owner', trialEndsAt: org.trialEndsAt },
  });

  log('lab: building network namespaces (client, router, 2 balancers, 3 backends)');
  const lab: Lab = await createLab({ prefix: LAB_PREFIX, balancers: 2, managementNet: settings.managementNet });
  signal?.throwIfAborted();
  // The router learns the VIP from the balancers over BGP (no static route): ECMP over those that announce it.
  const router = await startRouterBgp(lab, {
    asn: ROUTER_ASN,
    peers: lab.balancers.map((b) => ({ address: b.v4, asn: BALANCER_ASN })),
    bfd: BFD,
  });
  signal?.throwIfAborted();

  const agents = new Map<string, ChildProcess>();
  const hosts: LabHost[] = [...lab.balancers, ...lab.backends];
  const agentArgs = new Map<string, string[]>();
  const spawnAgent = (host: LabHost) => {
    const logFile = openSync(join(options.dataDir, 'lab', 'agents', `${host.name}.log`), 'a');
    agents.set(
      host.name,
      spawn('ip', ['netns', 'exec', host.ns, ...agentCommand(), ...agentArgs.get(host.name)!], { stdio: ['ignore', logFile, logFile] }),
    );
  };
  const spawnedAt = new Date();
  for (const host of hosts) {
    const stateDir = join(options.dataDir, 'lab', 'agents', host.name);
    const server = `http://${await lab.connectToHost(host)}:${options.port}`;
    // An agent stays with the panel it enrolled with; a lab panel on another port starts its agents afresh.
    if (enrolledWith(stateDir) !== server) rmSync(stateDir, { recursive: true, force: true });
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    // --insecure: plain http over the management link, a veth pair inside this machine.
    const args = ['run', '--server', server, '--insecure', '--name', host.name, '--state-dir', stateDir];
    // Prometheus metrics on the management link, as a host's agent serves them on its own network.
    args.push('--metrics-port', String(AGENT_METRICS_PORT));
    if (!existsSync(join(stateDir, 'credential.json'))) {
      // A node of that name from an earlier lab whose state is gone: replace it.
      const old = await db.prisma.node.findUnique({ where: { organizationId_name: { organizationId: org.id, name: host.name } } });
      if (old) {
        if (!old.revokedAt) await api.nodes.revoke({ id: old.id });
        await api.nodes.delete({ id: old.id });
      }
      args.push('--token', (await api.tokens.create({ description: `lab ${host.name}` })).token);
    }
    agentArgs.set(host.name, args);
    signal?.throwIfAborted();
    spawnAgent(host);
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
  // A restarted agent has its credential now: it comes back without the enrollment token.
  for (const [name, args] of agentArgs) {
    const t = args.indexOf('--token');
    if (t >= 0) agentArgs.set(name, [...args.slice(0, t), ...args.slice(t + 2)]);
  }
  const idOf = (name: string) => nodes.find((n) => n.name === name)!.id;
  for (const b of lab.balancers) await api.nodes.setRole({ id: idOf(b.name), role: 'balancer' });
  for (const b of lab.backends) await api.nodes.setRole({ id: idOf(b.name), role: 'backend' });
  for (const b of lab.balancers) {
    // A balancer left drained by an earlier run takes its share again.
    if ((await api.nodes.get({ id: idOf(b.name) })).drain !== 'active') await api.nodes.undrain({ id: idOf(b.name) });
    await api.nodes.setAnnounce({
      id: idOf(b.name),
      announce: {
        bgp: {
          localAsn: BALANCER_ASN,
          routerId: b.v4,
          peers: [{ address: lab.router.v4, asn: ROUTER_ASN, holdTimeS: 9, bfd: true }],
          bfd: BFD,
        },
      },
    });
  }

  const backends = lab.backends.map((b) => ({ address: b.v4, port: null, weight: 1, state: 'active' as const, nodeId: null }));
  const common = {
    ingressInterface: null,
    drainTimeoutS: 30,
    mss: null,
    balancerNodeIds: lab.balancers.map((b) => idOf(b.name)),
    backends,
  };
  const wanted = [
    {
      name: 'lab-web',
      // Routed: both balancers announce it over BGP and the router shares the flows (ECMP).
      vip: LAB.l3Vip.v4,
      ports: '80',
      protocol: 'tcp' as const,
      mode: 'l3' as const,
      tunnel: 'vxlan' as const,
      healthCheck: {
        type: 'http' as const,
        port: null,
        path: '/',
        expectStatus: 200,
        payload: null,
        expect: null,
        intervalMs: 1000,
        timeoutMs: 500,
        rise: 2,
        fall: 2,
      },
      ...common,
    },
    {
      name: 'lab-dns',
      vip: LAB.l3Vip.v4,
      ports: '5353',
      protocol: 'udp' as const,
      mode: 'l3' as const,
      tunnel: 'vxlan' as const,
      healthCheck: {
        type: 'udp' as const,
        port: null,
        path: null,
        expectStatus: null,
        payload: 'size:16',
        expect: null,
        intervalMs: 1000,
        timeoutMs: 500,
        rise: 2,
        fall: 2,
      },
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
      return list
        .filter((s) => s.name.startsWith('lab-'))
        .every((s) => s.rollout.nodes > 0 && s.rollout.applied === s.rollout.nodes && s.rollout.errors.length === 0)
        ? true
        : undefined;
    },
    60_000,
    signal,
  );

  await waitFor(
    'the router to route the VIP over both balancers',
    async () => ((await router.nexthops(LAB.l3Vip.v4)).length === 2 ? true : undefined),
    60_000,
    signal,
  );

  const traffic = lab.spawn(lab.client.ns, [
    ...netlabScript('traffic'),
    '--http',
    LAB.l3Vip.v4,
    '--udp',
    `${LAB.l3Vip.v4}:5353`,
    '--minutes',
    String(options.trafficMinutes ?? 60),
    // Names its lab, so `ps` tells two labs' generators apart (test/lab.test.ts counts its own).
    '--lab',
    LAB_PREFIX,
  ]);
  const serving = new Map(lab.backends.map((b) => [b.name, true]));
  const alive = new Map(lab.balancers.map((b) => [b.name, true]));

  // Each balancer's traffic: packets arriving on its link, sampled once a second (BGP and BFD add ~12 a second).
  const samples = new Map(lab.balancers.map((b) => [b.name, [] as { t: number; packetsPerSecond: number }[]]));
  const last = new Map<string, { t: number; packets: number }>();
  let routed: string[] = lab.balancers.map((b) => b.v4);
  let sampling = false;
  const sampler = setInterval(() => {
    if (sampling) return;
    sampling = true;
    void (async () => {
      routed = await router.nexthops(LAB.l3Vip.v4);
      for (const b of lab.balancers) {
        const t = Date.now();
        const { rxPackets } = await lab.linkStats(b.ns);
        const prev = last.get(b.name);
        last.set(b.name, { t, packets: rxPackets });
        if (!prev) continue;
        const list = samples.get(b.name)!;
        list.push({ t, packetsPerSecond: Math.max(0, Math.round(((rxPackets - prev.packets) * 1000) / (t - prev.t))) });
        if (list.length > TRAFFIC_SECONDS) list.shift();
      }
    })()
      .catch(() => undefined)
      .finally(() => (sampling = false));
  }, 1000);

  const scrapeConfig = join(options.dataDir, 'lab', 'prometheus.yml');
  writeFileSync(
    scrapeConfig,
    labScrapeConfig(
      options.port,
      hosts.map((h) => ({ name: h.name, address: lab.managementAddress(h)! })),
    ),
  );
  log(`lab: its agents serve Prometheus metrics on their management links; ${scrapeConfig} scrapes them and the panel`);
  log(
    `lab: ready: traffic flows to ${LAB.l3Vip.v4}:80 (TCP) and ${LAB.l3Vip.v4}:5353 (UDP), shared by ${lab.balancers.map((b) => b.name).join(' and ')} (BGP, ECMP)`,
  );

  return {
    organizationId: org.id,
    status: () => ({
      backends: lab.backends.map((b) => ({ name: b.name, address: b.v4, serving: serving.get(b.name) ?? false })),
      balancers: lab.balancers.map((b) => ({
        name: b.name,
        address: b.v4,
        alive: alive.get(b.name) ?? false,
        routed: routed.includes(b.v4),
        traffic: [...samples.get(b.name)!],
      })),
      traffic: traffic.exitCode === null,
    }),
    async setBackendServing(name, on) {
      const b = lab.backends.find((x) => x.name === name);
      if (!b) throw new Error(`no lab backend ${name}`);
      if (on && !serving.get(name)) await lab.startServer(b);
      if (!on && serving.get(name)) await lab.stopServer(b);
      serving.set(name, on);
    },
    async setBalancerAlive(name, on) {
      const b = lab.balancers.find((x) => x.name === name);
      if (!b) throw new Error(`no lab balancer ${name}`);
      if (on === alive.get(name)) return;
      if (!on) {
        // A host death: the link goes down, then every process in the namespace (agent, bird) dies at once.
        alive.set(name, false);
        await lab.exec(b.ns, ['ip', 'link', 'set', 'e0', 'down']);
        const { stdout } = await promisify(execFile)('ip', ['netns', 'pids', b.ns]);
        for (const pid of stdout.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        return;
      }
      // Back: the link up, its routes restored (a link going down removes them), its agent started again.
      await lab.exec(b.ns, ['ip', 'link', 'set', 'e0', 'up']);
      await lab.exec(b.ns, ['ip', 'route', 'replace', 'default', 'via', lab.router.v4]);
      await lab.exec(b.ns, ['ip', '-6', 'route', 'replace', 'default', 'via', lab.router.v6], { allowFailure: true });
      spawnAgent(b);
      alive.set(name, true);
    },
    async destroy() {
      clearInterval(sampler);
      traffic.kill('SIGTERM');
      for (const a of agents.values()) a.kill('SIGTERM');
      await lab.destroy();
    },
  };
}
