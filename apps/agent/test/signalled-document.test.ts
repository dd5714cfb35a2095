// A new document that arrives between re-checks and changes a few services
// (a drain set in the panel) is patched on the facts and host steps of the last
// convergence, as a health change is: neither walks every service or every host
// address. The next re-check reads the facts and runs the host steps whole, so a
// host that drifted in between is still repaired. Real kernel, scratch namespace.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelTestsUnavailable } from './support.ts';

const unavailable = await kernelTestsUnavailable();
const NS = `ps-signalled-${process.pid}`;

interface Counts {
  builds: number;
  documentPatches: number;
  factReads: number;
  hostStepRuns: number;
  vip3?: boolean;
}

describe.skipIf(unavailable)(`a signalled new document${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  });

  it('is patched without reading the host or running the host steps; the next re-check repairs the host', () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    const script = fileURLToPath(new URL('./signalled-document-run.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
    const out = execFileSync('ip', ['netns', 'exec', NS, tsx, script], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, Counts & Record<string, unknown>>;
    console.log(JSON.stringify(r));
    const { first, afterSignalled, afterRecheck, afterBuild } = r;
    // The VIP taken off by hand stays off until the re-check: the host steps did not run.
    expect(afterSignalled!.vip3).toBe(false);
    expect(afterSignalled!.condition).toBe('draining');
    expect(afterSignalled).toMatchObject({
      builds: first!.builds,
      documentPatches: first!.documentPatches + 1,
      factReads: first!.factReads,
      hostStepRuns: first!.hostStepRuns,
    });
    // The re-check of the same document reads the host and puts the VIP back, with no transaction.
    expect(afterRecheck).toMatchObject({
      vip3: true,
      changed: false,
      factReads: first!.factReads + 1,
      hostStepRuns: first!.hostStepRuns + 1,
    });
    // A document the patch declines is built on facts read again, and runs the host steps.
    expect(afterBuild).toMatchObject({
      vip3: true,
      builds: first!.builds + 1,
      factReads: first!.factReads + 2,
      hostStepRuns: first!.hostStepRuns + 2,
    });
  });
});
