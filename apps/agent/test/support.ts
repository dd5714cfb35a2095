// Shared by the agent's kernel tests: running tula-agent inside lab namespaces,
// and the desired-state documents they apply.
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DesiredStateInput } from '@tula/protocol';
import { LAB, netlabScript, type Lab, type LabHost } from '@tula/netlab';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * The command that runs the agent in tests: TULA_AGENT_BIN (the single executable), or the
 * esbuild bundle at TULA_AGENT_BUNDLE, or the source through tsx. scripts/test.sh builds the
 * bundle first and sets TULA_AGENT_BUNDLE: a start from it costs about a fifth of tsx's CPU (which
 * transforms the source), and the suites start the agent hundreds of times on a 2-core machine.
 */
export const AGENT_COMMAND: readonly string[] = process.env.TULA_AGENT_BIN
  ? [process.env.TULA_AGENT_BIN]
  : process.env.TULA_AGENT_BUNDLE
    ? [process.execPath, process.env.TULA_AGENT_BUNDLE]
    : [`${repoRoot}node_modules/.bin/tula-agent`];
/** A namespace prefix of its own for a run through TULA_AGENT_BIN, which may run beside the source run. */
export const labPrefix = (prefix: string) => (process.env.TULA_AGENT_BIN ? `i${prefix.slice(1)}` : prefix);

/** Why kernel tests cannot run here, or undefined when they can. */
export async function kernelTestsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces and nftables (run the suite as root, as CI does)';
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  try {
    await promisify(execFile)('nft', ['--version']);
  } catch {
    return 'nft (nftables) is not installed';
  }
  return undefined;
}

export class AgentHost {
  readonly stateDir: string;
  private readonly dir: string;
  constructor(
    readonly lab: Lab,
    readonly host: LabHost,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `tula-${host.ns}-`));
    this.stateDir = join(this.dir, 'state');
  }

  writeState(doc: DesiredStateInput, name = 'desired.json'): string {
    const file = join(this.dir, name);
    writeFileSync(`${file}.tmp`, JSON.stringify(doc));
    // Replace atomically, as a careful writer would: `run` must never read half a file.
    renameSync(`${file}.tmp`, file);
    return file;
  }

  agent(args: string[], options: { allowFailure?: boolean } = {}) {
    return this.lab.exec(this.host.ns, [...AGENT_COMMAND, ...args, '--state-dir', this.stateDir], options);
  }

  apply(doc: DesiredStateInput) {
    return this.agent(['apply', '--state', this.writeState(doc)]);
  }

  async status(): Promise<StatusJson> {
    return JSON.parse((await this.agent(['status'])).stdout) as StatusJson;
  }
}

export interface StatusJson {
  running: boolean;
  appliedVersion: number | null;
  lastError: string | null;
  warnings: string[];
  lastDrift: { at: string; what: string[] } | null;
  backends: { service: string; address: string; condition: string; slots: number; healthy: boolean | null }[];
  counters: {
    services: Record<
      string,
      {
        packets: number;
        bytes: number;
        newFlows: number;
        drops: number;
        flowTableFull: number;
        backends: Record<string, { packets: number; bytes: number; newFlows: number }>;
      }
    >;
    vips: Record<string, { packets: number; bytes: number }>;
  } | null;
}

/** The lab's backend hosts set up for a VIP (the backend section of their documents). */
export function backendDoc(version: number, vips: DesiredStateInput['backend']): DesiredStateInput {
  return { apiVersion: 'tula/v1', version, ...(vips ? { backend: vips } : {}) };
}

type BackendVips = NonNullable<DesiredStateInput['backend']>['vips'];

/** The lab's L2 VIP, IPv4 and IPv6, as a backend takes it on (on lo, ARP answered by the balancer). */
export const L2_BACKEND_VIPS: BackendVips = [
  { vip: LAB.l2Vip.v4, mode: 'l2' },
  { vip: LAB.l2Vip.v6, mode: 'l2' },
];

/** Every lab backend set up for these VIPs (version 1 of its document); their hosts. */
export async function applyBackendVips(lab: Lab, vips: BackendVips): Promise<AgentHost[]> {
  const hosts = lab.backends.map((b) => new AgentHost(lab, b));
  for (const h of hosts) await h.apply(backendDoc(1, { vips }));
  return hosts;
}

/** An HTTP request from the lab's client; the body (or what -w prints). */
export async function curlFromClient(lab: Lab, url: string, extra: string[] = []): Promise<string> {
  return (await lab.exec(lab.client.ns, ['curl', '-sS', '--max-time', '5', ...extra, url])).stdout;
}

/** Which backends answer new TCP connections to `url` (curl picks a new source port each time). */
export async function backendsSeen(lab: Lab, url: string, want = lab.backends.length): Promise<string[]> {
  const seen = new Set<string>();
  for (let i = 0; i < 30 && seen.size < want; i++) seen.add((await curlFromClient(lab, url)).trim());
  return [...seen].sort();
}

/** One UDP datagram per source port in `sports` ("a-b"): which backend answered each flow. */
export async function udpFlows(lab: Lab, target: string, sports: string): Promise<Record<string, string | null>> {
  const r = await lab.exec(lab.client.ns, [...netlabScript('probe-client'), '--target', target, '--sports', sports]);
  return JSON.parse(r.stdout) as Record<string, string | null>;
}
