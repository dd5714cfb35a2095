// Test support for the control plane: an account on a running panel, a tRPC
// client acting as that account, and agent processes in server mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppRouter } from '@tula/api';
import { LAB, type Lab } from '@tula/netlab';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, splitLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import superjson from 'superjson';
import { AGENT_COMMAND } from '../../apps/agent/test/support.ts';
import { latestMail } from './outbox.ts';

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits (30 s at most) until all `count` nodes applied their documents without an error; the nodes. */
export function allNodesApplied(api: Api, count: number) {
  return waitFor(
    'every node to apply its document',
    async () => {
      const nodes = await api.nodes.list.query();
      return nodes.length === count && nodes.every((n) => n.inSync && !n.lastError) ? nodes : undefined;
    },
    30_000,
  );
}

/** Signs up a new account (which gets its own organisation) and returns its session cookie. */
export async function signUp(panelUrl: string, email: string, password = 'a long enough password'): Promise<string> {
  return sessionCookie(panelUrl, 'sign-up', { email, password, name: email.split('@')[0]! });
}

/** Follows the address-confirmation link the panel mailed at sign-up (read from the outbox table). */
export async function verifyEmail(databaseUrl: string, email: string): Promise<void> {
  const { link } = await latestMail(databaseUrl, email, /Confirm your email/);
  const res = await fetch(link, { redirect: 'manual' });
  if (res.status >= 400) throw new Error(`confirming ${email} failed: ${res.status} ${await res.text()}`);
}

/** Signs in to an existing account and returns its session cookie. */
export async function signIn(panelUrl: string, email: string, password: string): Promise<string> {
  return sessionCookie(panelUrl, 'sign-in', { email, password });
}

async function sessionCookie(panelUrl: string, action: 'sign-up' | 'sign-in', body: Record<string, string>): Promise<string> {
  const res = await fetch(`${panelUrl}/api/auth/${action}/email`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: panelUrl },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${action} failed: ${res.status} ${await res.text()}`);
  const cookies = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  if (!cookies) throw new Error(`${action} set no session cookie`);
  return cookies;
}

export function apiClient(panelUrl: string, cookie: string) {
  const headers = () => ({ cookie, origin: panelUrl });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url: `${panelUrl}/api/trpc`,
          transformer: superjson,
          // Node's EventSource cannot send headers; the eventsource package can.
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input: RequestInfo | URL, init?: RequestInit) =>
              fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers() } }),
          }),
        }),
        false: httpBatchLink({ url: `${panelUrl}/api/trpc`, transformer: superjson, headers }),
      }),
    ],
  });
}
export type Api = ReturnType<typeof apiClient>;

export interface AgentProcess {
  child: ChildProcess;
  stateDir: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `tula-agent run --server` (dry-run by default), optionally inside a network namespace. */
export function startAgent(options: {
  server: string;
  token?: string;
  name: string;
  stateDir?: string;
  dryRun?: boolean;
  netns?: string;
  extra?: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** A file its output is appended to as well, kept after the test (the browser tests' agents). */
  logFile?: string;
}): AgentProcess {
  const stateDir = options.stateDir ?? join(mkdtempSync(join(tmpdir(), 'tula-agent-')), 'state');
  const args = [
    'run',
    '--server',
    options.server,
    '--name',
    options.name,
    '--state-dir',
    stateDir,
    ...(options.token ? ['--token', options.token] : []),
    ...(options.dryRun === false ? [] : ['--dry-run']),
    ...(options.extra ?? []),
  ];
  const argv = options.netns ? ['ip', 'netns', 'exec', options.netns, ...AGENT_COMMAND, ...args] : [...AGENT_COMMAND, ...args];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (d: Buffer) => {
      out += d.toString();
      log?.write(d);
    });
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => log?.end());
  return {
    child,
    stateDir,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * Enrolls a real agent on every balancer and backend of a namespace lab (over
 * its management link), waits until each is online and gives lb1 the balancer
 * role and the others the backend role.
 */
export async function enrollLab(api: Api, lab: Lab, panelPort: number, agentArgs: string[] = []) {
  const agents = new Map<string, AgentProcess>();
  const servers = new Map<string, string>();
  const nodeIds = new Map<string, string>();
  for (const host of [...lab.balancers, ...lab.backends]) {
    servers.set(host.name, `http://${await lab.connectToHost(host)}:${panelPort}`);
    const { token } = await api.tokens.create.mutate({});
    // --insecure: plain http over the management link, a veth pair inside this machine.
    agents.set(
      host.name,
      startAgent({
        server: servers.get(host.name)!,
        token,
        name: host.name,
        netns: host.ns,
        dryRun: false,
        extra: ['--insecure', ...agentArgs],
      }),
    );
  }
  for (const name of agents.keys()) {
    const node = await waitFor(
      `node ${name} online`,
      async () => (await api.nodes.list.query()).find((n) => n.name === name && n.online && n.inSync),
      40_000,
    );
    nodeIds.set(name, node.id);
  }
  await api.nodes.setRole.mutate({ id: nodeIds.get('lb1')!, role: 'balancer' });
  for (const b of lab.backends) await api.nodes.setRole.mutate({ id: nodeIds.get(b.name)!, role: 'backend' });
  return { agents, servers, nodeIds };
}

/** The lab's L2 HTTP service on lb1 over every backend, with HTTP health checks. */
export function labWebService(lab: Lab, balancerId: string, check: { intervalMs: number; timeoutMs: number; fall: number }) {
  return {
    name: 'web',
    vip: LAB.l2Vip.v4,
    ports: '80',
    protocol: 'tcp' as const,
    mode: 'l2' as const,
    balancerNodeIds: [balancerId],
    backends: lab.backends.map((b) => ({ address: b.v4 })),
    healthCheck: { type: 'http' as const, path: '/', expectStatus: 200, rise: 2, ...check },
  };
}
