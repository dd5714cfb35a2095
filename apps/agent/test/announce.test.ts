// Announcing many L2 VIPs: gratuitous ARP for several at once, and an agent that
// stops promptly when told to, even in the middle of announcing.
import { readFileSync } from 'node:fs';
import type { DesiredStateInput } from '@tula/protocol';
import { createLab, type Lab } from '@tula/netlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_COMMAND, AgentHost, kernelTestsUnavailable } from './support.ts';

const unavailable = await kernelTestsUnavailable();
const VIPS = 200;

/** Processes of a namespace running `name`. */
async function processes(lab: Lab, ns: string, name: string): Promise<number[]> {
  const pids = (await lab.exec(lab.client.ns, ['ip', 'netns', 'pids', ns], { allowFailure: true })).stdout.split(/\s+/).filter(Boolean);
  return pids.map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

describe.skipIf(unavailable)(`announcing ${VIPS} VIPs${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await createLab({ prefix: 'dga', backends: 1, servers: false });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('sends gratuitous ARP for several VIPs at once, and SIGTERM stops the agent within 2 s mid-announce', async () => {
    const arping = await lab.exec(lab.balancers[0]!.ns, ['arping', '-V'], { allowFailure: true }).catch(() => ({ code: 127 }));
    if (arping.code === 127) throw new Error('arping is not installed (Debian package iputils-arping): the test needs it');
    const lb = new AgentHost(lab, lab.balancers[0]!);
    const doc: DesiredStateInput = {
      apiVersion: 'tula/v1',
      version: 1,
      balancer: {
        services: Array.from({ length: VIPS }, (_, i) => ({
          name: `s${i}`,
          vip: `10.95.${i >> 8}.${(i & 255) + 1}`,
          port: 80,
          protocol: 'tcp' as const,
          mode: 'l2' as const,
          interface: 'e0',
          backends: [{ address: lab.backends[0]!.v4 }],
        })),
      },
    };
    const agent = lab.spawn(lb.host.ns, [...AGENT_COMMAND, 'run', '--state', lb.writeState(doc), '--state-dir', lb.stateDir]);
    let output = '';
    agent.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    agent.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    try {
      // Wait for the announcements to start, then see how many run at once.
      let most = 0;
      for (let i = 0; i < 300 && most < 2; i++) {
        most = Math.max(most, (await processes(lab, lb.host.ns, 'arping')).length);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(most, `at most ${most} arping at a time; agent output:\n${output}`).toBeGreaterThanOrEqual(2);

      agent.kill('SIGTERM');
      const stoppedInTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
      expect(stoppedInTime, `agent still running 2 s after SIGTERM; output:\n${output}`).toBe(true);
      expect(await processes(lab, lb.host.ns, 'arping')).toEqual([]);
    } finally {
      agent.kill('SIGKILL');
    }
  });
});
