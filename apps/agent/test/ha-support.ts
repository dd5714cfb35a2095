// Shared by the high-availability tests: long-running agents in lab
// namespaces, a host death (link down and every process killed), traffic that
// must survive it (a rate-limited download, a request loop on new connections,
// a UDP stream that times the failover).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DesiredStateInput } from '@tula/protocol';
import { netlabScript, type Lab, type LabHost, type NetlabScript } from '@tula/netlab';
import { AGENT_COMMAND, type AgentHost } from './support.ts';

const run = promisify(execFile);

/** `tula-agent run --state FILE` in a lab namespace. */
export class RunningAgent {
  child: ChildProcess | undefined;
  private out = '';
  readonly file: string;
  constructor(
    readonly agent: AgentHost,
    doc: DesiredStateInput,
  ) {
    this.file = agent.writeState(doc);
  }

  start(): this {
    const { host } = this.agent;
    this.child = spawn(
      'ip',
      ['netns', 'exec', host.ns, ...AGENT_COMMAND, 'run', '--state', this.file, '--state-dir', this.agent.stateDir],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    return this;
  }

  update(doc: DesiredStateInput) {
    this.agent.writeState(doc);
  }

  output() {
    return this.out;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((r) => c.once('exit', r));
    c.kill(signal);
    await gone;
  }
}

/** A host death: the link goes down and every process in the namespace (agent, routing daemon) dies with SIGKILL. Returns when it died (epoch ms). */
export async function hostDeath(lab: Lab, host: LabHost, agent: RunningAgent): Promise<number> {
  await lab.exec(host.ns, ['ip', 'link', 'set', 'e0', 'down']);
  const at = Date.now();
  await agent.stop('SIGKILL');
  const { stdout } = await run('ip', ['netns', 'pids', host.ns]);
  for (const pid of stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  return at;
}

/** The host comes back: its link up and its routes restored (a link going down removes them). */
export async function revive(lab: Lab, host: LabHost) {
  await lab.exec(host.ns, ['ip', 'link', 'set', 'e0', 'up']);
  await lab.exec(host.ns, ['ip', 'route', 'replace', 'default', 'via', lab.router.v4]);
  await lab.exec(host.ns, ['ip', '-6', 'route', 'replace', 'default', 'via', lab.router.v6], { allowFailure: true });
}

/** A download through the VIP from the client, throttled by curl so that it lasts `bytes / bytesPerSecond` seconds. */
export function startDownload(lab: Lab, url: string, bytes: number, bytesPerSecond: number) {
  const dir = mkdtempSync(join(tmpdir(), 'tula-download-'));
  const file = join(dir, 'body');
  const child = lab.spawn(lab.client.ns, [
    'curl',
    '-sS',
    '--max-time',
    '120',
    '--limit-rate',
    String(bytesPerSecond),
    '-o',
    file,
    '-w',
    '%{size_download} %{http_code}',
    url,
  ]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ code: number | null; out: string; intact: boolean; size: number }>((resolve) =>
    child.once('exit', (code) => {
      let body = Buffer.alloc(0);
      try {
        body = readFileSync(file);
      } catch {
        // No body at all: reported as size 0.
      }
      rmSync(dir, { recursive: true, force: true });
      // The lab's backends send 'x' bytes: every byte must be one, and all of them must be there.
      resolve({ code, out, size: body.length, intact: body.length === bytes && body.every((b) => b === 0x78) });
    }),
  );
  let exited = false;
  void done.then(() => (exited = true));
  /** Bytes received so far; throws once curl has exited (the download failed or ended), with what it printed. */
  const received = () => {
    if (exited) throw new Error(`the download ended early: ${out}`);
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  return { done, received, stop: () => void child.kill('SIGTERM') };
}

/** The client's port of its established TCP connection to `address`:`port`, if it has one. */
export async function clientPort(lab: Lab, address: string, port: number): Promise<number | undefined> {
  const peer = `${address.includes(':') ? `[${address}]` : address}:${port}`;
  // Without a header or the state column: Recv-Q, Send-Q, local address:port, peer address:port.
  const { stdout } = await lab.exec(lab.client.ns, ['ss', '-tnH', 'state', 'established']);
  for (const line of stdout.split('\n')) {
    const [, , local, remote] = line.trim().split(/\s+/);
    if (remote === peer && local) return Number(local.slice(local.lastIndexOf(':') + 1));
  }
  return undefined;
}

/**
 * A process in the client namespace that prints JSON on SIGTERM (request-loop.ts,
 * udp-stream.ts). Resolves once it handles SIGTERM (its SigCgt mask says so), so
 * a slow start under load is not mistaken for a run, and stopping it never kills it.
 */
export async function startReporter<T>(lab: Lab, script: NetlabScript, args: string[]) {
  const child = lab.spawn(lab.client.ns, [...netlabScript(script), ...args]);
  await waitUntil(
    `${script} to start`,
    async () => {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
      const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status)?.[1];
      return caught !== undefined && (BigInt(`0x${caught}`) & (1n << 14n)) !== 0n;
    },
    60_000,
    50,
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<string>((r) => child.once('exit', (code, signal) => r(`exit ${code ?? signal}`)));
  return {
    async stop(): Promise<T> {
      child.kill('SIGTERM');
      const how = await exited;
      const last = out.trim().split('\n').at(-1) ?? '';
      if (!last.startsWith('{')) throw new Error(`${script} printed no result (${how}): ${out}`);
      return JSON.parse(last) as T;
    },
  };
}

export interface LoopResult {
  sent: number;
  failed: number;
  failures: { at: string; error: string }[];
}

/** One request on a new connection every 20 ms until stopped (request-loop.ts). */
export function startRequestLoop(lab: Lab, url: string, timeoutMs = 5000) {
  return startReporter<LoopResult>(lab, 'request-loop', ['--url', url, '--interval', '20', '--timeout', String(timeoutMs)]);
}

/** 16 UDP flows asking `target` every 10 ms until stopped (udp-stream.ts): how many were sent, when each lost one was. */
export function startUdpStream(lab: Lab, target: string) {
  return startReporter<{ sent: number; lost: number[] }>(lab, 'udp-stream', ['--target', target, '--flows', '16', '--interval', '10']);
}

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
