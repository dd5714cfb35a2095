// Run inside a scratch network namespace by signalled-document.test.ts: the
// converger's path for a new document that arrives between re-checks (as the
// daemon gets one from the panel), against the kernel. Prints one JSON line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDesiredState, type DesiredState } from '@tula/protocol';
import { Converger } from '../src/dataplane/converge.ts';
import { StateDir } from '../src/state-dir.ts';

const SERVICES = 20;
const vip = (i: number) => `10.77.${i}.1`;

function doc(version: number, services = SERVICES, draining?: number): DesiredState {
  const r = parseDesiredState({
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: Array.from({ length: services }, (_, i) => ({
        name: `svc${i}`,
        vip: vip(i),
        port: 80,
        protocol: 'tcp',
        mode: 'l2',
        interface: 'eth0',
        backends: [0, 1].map((j) => ({
          address: `172.16.${j}.${i + 1}`,
          mac: `02:00:00:00:0${j}:01`,
          ...(i === draining && j === 0 ? { state: 'draining' as const } : {}),
        })),
      })),
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
  return r.value;
}

const sh = (...argv: string[]) => execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
const hasVip = (i: number) => sh('ip', '-o', 'addr', 'show', 'dev', 'eth0').includes(` ${vip(i)}/32 `);

sh('ip', 'link', 'set', 'lo', 'up');
sh('ip', 'link', 'set', 'eth0', 'up');
// The VIPs are there already, so the first convergence announces none (no arping).
for (let i = 0; i <= SERVICES; i++) sh('ip', 'addr', 'add', `${vip(i)}/32`, 'dev', 'eth0');
const dir = mkdtempSync(join(tmpdir(), 'tula-signalled-'));
try {
  const c = new Converger({ stateDir: new StateDir(dir) });
  const counts = () => ({ builds: c.builds, documentPatches: c.documentPatches, factReads: c.factReads, hostStepRuns: c.hostStepRuns });
  await c.converge(doc(1), [], { verifyKernel: true });
  const first = counts();
  // The host drifts between re-checks: a VIP is taken off its interface.
  sh('ip', 'addr', 'del', `${vip(3)}/32`, 'dev', 'eth0');
  const drained = doc(2, SERVICES, 5);
  const signalled = await c.converge(drained, []);
  const afterSignalled = { ...counts(), vip3: hasVip(3), condition: signalled.model.backends.find((b) => b.service === 'svc5')!.condition };
  const recheck = await c.converge(drained, [], { verifyKernel: true });
  const afterRecheck = { ...counts(), vip3: hasVip(3), changed: recheck.changed };
  // A new document the patch declines (a service added): built, on facts read again, with the host steps.
  sh('ip', 'addr', 'del', `${vip(3)}/32`, 'dev', 'eth0');
  await c.converge(doc(3, SERVICES + 1), []);
  const afterBuild = { ...counts(), vip3: hasVip(3) };
  console.log(JSON.stringify({ first, afterSignalled, afterRecheck, afterBuild }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
