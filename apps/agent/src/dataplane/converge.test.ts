// What the agent saves and when: inputs and hashes, small, written only when they
// change; an idle resync builds no model and writes nothing. A dry run exercises
// the same convergence path without a kernel.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDesiredState, type DesiredState } from '@tula/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { StateDir } from '../state-dir.ts';
import { APPLIED_FILE, Converger } from './converge.ts';

const dir = mkdtempSync(join(tmpdir(), 'tula-converge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function doc(services: number, version = 1): DesiredState {
  const r = parseDesiredState({
    apiVersion: 'tula/v1',
    version,
    balancer: {
      services: Array.from({ length: services }, (_, i) => ({
        name: `svc${i}`,
        vip: `10.${(i >> 8) & 255}.${i & 255}.1`,
        port: 80,
        protocol: 'tcp',
        mode: 'l2',
        interface: 'eth0',
        backends: [0, 1].map((j) => ({ address: `172.16.${j}.${(i % 250) + 1}` })),
      })),
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
  return r.value;
}

describe('saved state', () => {
  it('at 10,000 services x 2 backends: a few MB, and an idle resync builds no model and rewrites nothing', async () => {
    const stateDir = new StateDir(join(dir, 'big'));
    const converger = new Converger({ stateDir, dryRun: true });
    const state = doc(10_000);
    await converger.converge(state, [], { verifyKernel: true });
    const file = stateDir.file(APPLIED_FILE);
    const first = statSync(file);
    console.log(`applied.json at 10,000 services x 2 backends: ${(first.size / 1e6).toFixed(1)} MB`);
    // The document itself is about 2 MB; the rendered model was 190 MB.
    expect(first.size).toBeLessThan(8e6);
    const model = converger.model;
    const builds = converger.builds;
    for (let i = 0; i < 3; i++) await converger.converge(state, [], { verifyKernel: true });
    const after = statSync(file);
    expect([after.ino, after.mtimeMs]).toEqual([first.ino, first.mtimeMs]);
    expect(converger.model).toBe(model);
    expect(converger.builds).toBe(builds);
  });

  it('a restarted agent takes over the saved model, and writes again only when something changed', async () => {
    const stateDir = new StateDir(join(dir, 'restart'));
    const state = doc(50);
    const first = new Converger({ stateDir, dryRun: true });
    const applied = await first.converge(state);
    const stamp = () => {
      const s = statSync(stateDir.file(APPLIED_FILE));
      return [s.ino, s.mtimeMs];
    };
    const before = stamp();

    const second = new Converger({ stateDir, dryRun: true });
    const again = await second.converge(doc(50), [], { verifyKernel: true });
    expect(again.changed).toBe(false);
    expect(second.builds).toBe(0);
    expect(again.model.ids).toEqual(applied.model.ids);
    expect(stamp()).toEqual(before);

    const unhealthy = await second.converge(doc(50), ['svc7|172.16.0.8']);
    expect(unhealthy.changed).toBe(true);
    expect(stamp()).not.toEqual(before);
    expect(unhealthy.model.backends.find((b) => b.service === 'svc7' && b.address === '172.16.0.8')?.condition).toBe('down');
  });
});
