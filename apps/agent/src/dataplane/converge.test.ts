// What the agent saves and when: inputs and hashes, small, written only when they
// change; an idle resync builds no model and writes nothing. A dry run exercises
// the same convergence path without a kernel.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDesiredState, type DesiredState } from '@tula/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { StateDir } from '../state-dir.ts';
import { tableHash } from '@tula/nft';
import { APPLIED_CHANGES_FILE, APPLIED_FILE, APPLIED_INPUTS_FILE, Converger, loadApplied } from './converge.ts';

const dir = mkdtempSync(join(tmpdir(), 'tula-converge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function doc(services: number, version = 1, draining?: number): DesiredState {
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
        backends: [0, 1].map((j) => ({
          address: `172.16.${j}.${(i % 250) + 1}`,
          ...(i === draining && j === 0 ? { state: 'draining' as const } : {}),
        })),
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
    const saved = first.size + statSync(stateDir.file(APPLIED_INPUTS_FILE)).size;
    console.log(`applied.json + applied-inputs.json at 10,000 services x 2 backends: ${(saved / 1e6).toFixed(1)} MB`);
    // The document itself is about 2 MB; the rendered model was 190 MB.
    expect(saved).toBeLessThan(8e6);
    const model = converger.model;
    const builds = converger.builds;
    for (let i = 0; i < 3; i++) await converger.converge(state, [], { verifyKernel: true });
    const after = statSync(file);
    expect([after.ino, after.mtimeMs]).toEqual([first.ino, first.mtimeMs]);
    expect(converger.model).toBe(model);
    expect(converger.builds).toBe(builds);
  }, 180_000); // 10,000 services: a minute of model building on a busy two-core machine

  it('a health change at 10,000 services rewrites a small file only: the document is not saved again', async () => {
    const stateDir = new StateDir(join(dir, 'health'));
    const converger = new Converger({ stateDir, dryRun: true });
    const state = doc(10_000);
    await converger.converge(state, [], { verifyKernel: true });
    const stamp = (name: string) => {
      const s = statSync(stateDir.file(name));
      return { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
    };
    const files = readdirSync(stateDir.path);
    const before = Object.fromEntries(files.map((f) => [f, stamp(f)]));
    const down = await converger.converge(state, ['svc7|172.16.0.8'], { healthChanged: new Set(['svc7']) });
    expect(down.model.backends.find((b) => b.service === 'svc7' && b.address === '172.16.0.8')?.condition).toBe('down');
    const rewritten = files.filter((f) => stamp(f).mtimeMs !== before[f]!.mtimeMs || stamp(f).ino !== before[f]!.ino);
    expect(rewritten).toEqual([APPLIED_FILE]);
    // The unhealthy backend, versions, hashes and warnings: no document, no ids.
    expect(stamp(APPLIED_FILE).size).toBeLessThan(20_000);
  }, 180_000); // 10,000 services: a minute of model building on a busy two-core machine

  it('`status` reading a save half done (the new inputs written, applied.json not yet) waits for the rest', async () => {
    const stateDir = new StateDir(join(dir, 'torn'));
    const agent = new Converger({ stateDir, dryRun: true });
    await agent.converge(doc(5, 1));
    const appliedBefore = stateDir.file('applied-v1.json');
    copyFileSync(stateDir.file(APPLIED_FILE), appliedBefore);
    // A new document: new inputs, then applied.json naming them.
    await agent.converge(doc(6, 2));
    const appliedAfter = stateDir.file('applied-v2.json');
    copyFileSync(stateDir.file(APPLIED_FILE), appliedAfter);
    // Back to the moment between the two renames, and another thread finishing the save 50 ms on.
    copyFileSync(appliedBefore, stateDir.file(APPLIED_FILE));
    const writer = new Worker(
      `const { renameSync } = require('node:fs'); const { workerData: w } = require('node:worker_threads');
       setTimeout(() => renameSync(w.from, w.to), 50);`,
      { eval: true, workerData: { from: appliedAfter, to: stateDir.file(APPLIED_FILE) } },
    );
    await once(writer, 'online');
    const notices: string[] = [];
    const read = loadApplied(stateDir, (m) => notices.push(m));
    await once(writer, 'exit');
    expect(notices).toEqual([]);
    expect(read?.applied.state.version).toBe(2);
    expect(read?.model.backends.length).toBe(12);
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

  it('a new document changing one service of 2,000 patches that service, and converges where a fresh build does', async () => {
    const stateDir = new StateDir(join(dir, 'document'));
    const converger = new Converger({ stateDir, dryRun: true });
    await converger.converge(doc(2000, 1), [], { verifyKernel: true });
    const builds = converger.builds;
    const inputsBefore = statSync(stateDir.file(APPLIED_INPUTS_FILE));
    const drained = await converger.converge(doc(2000, 2, 700));
    // No full build: only svc700's part of the model was made again.
    expect(converger.builds).toBe(builds);
    expect(converger.documentPatches).toBe(1);
    expect(drained.replacedTables).toEqual([]);
    const lines = drained.script.trim().split('\n');
    expect(lines.every((l) => /^(add|delete) element netdev tula /.test(l))).toBe(true);
    expect(lines.length).toBeLessThan(10);
    expect(drained.model.backends.find((b) => b.service === 'svc700' && b.address === '172.16.0.201')?.condition).toBe('draining');
    // The same model as building the document afresh, with the ids given out before.
    const fresh = await new Converger({ stateDir: new StateDir(join(dir, 'document-fresh')), dryRun: true }).converge(doc(2000, 2, 700));
    expect(drained.model.tables.map(tableHash)).toEqual(fresh.model.tables.map(tableHash));
    expect(drained.model.backends).toEqual(fresh.model.backends);
    // Saved as the one changed service on top of the document saved before, which is not rewritten.
    const inputsAfter = statSync(stateDir.file(APPLIED_INPUTS_FILE));
    expect([inputsAfter.ino, inputsAfter.mtimeMs]).toEqual([inputsBefore.ino, inputsBefore.mtimeMs]);
    expect(statSync(stateDir.file(APPLIED_CHANGES_FILE)).size).toBeLessThan(2000);
    // A restarted agent reads it back: the patched document is what it applied, with nothing to do.
    const restarted = new Converger({ stateDir, dryRun: true });
    const again = await restarted.converge(doc(2000, 2, 700));
    expect([again.changed, restarted.builds]).toEqual([false, 0]);
    expect(again.model.tables.map(tableHash)).toEqual(fresh.model.tables.map(tableHash));
    // A document that adds a service is built whole.
    await converger.converge(doc(2001, 3));
    expect(converger.builds).toBe(builds + 1);
  }, 180_000);
});
