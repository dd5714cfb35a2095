// Bad state files are refused clearly (fast-check): a desired-state file of any
// content either loads or fails with a StateFileError listing its problems; the
// agent's own files (credential, last good state) of any content are read back
// or reported as unreadable and treated as absent, never thrown.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Credential } from './server/credential.ts';
import { StateDir } from './state-dir.ts';
import { loadStateFile, StateFileError } from './state-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'tula-state-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** File contents from plain garbage to near-miss documents. */
const contents = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 300 }).map((s) => Buffer.from(s)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v))),
  fc
    .record(
      {
        apiVersion: fc.constantFrom('tula/v1', 'tula/v2', 1),
        version: fc.oneof(fc.integer(), fc.string()),
        balancer: fc.jsonValue({ maxDepth: 3 }),
        backend: fc.jsonValue({ maxDepth: 3 }),
      },
      { requiredKeys: ['apiVersion'] },
    )
    .map((v) => Buffer.from(JSON.stringify(v))),
);

describe('state files', () => {
  it('a desired-state file of any content loads or is refused with its problems listed', async () => {
    const file = join(dir, 'desired.json');
    await fc.assert(
      fc.asyncProperty(contents, async (bytes) => {
        writeFileSync(file, bytes);
        const outcome = await loadStateFile(file).then(
          () => 'loaded',
          (err: unknown) => err,
        );
        if (outcome === 'loaded') return;
        expect(outcome).toBeInstanceOf(StateFileError);
        expect((outcome as StateFileError).problems.length).toBeGreaterThan(0);
        expect((outcome as StateFileError).message).toContain(file);
      }),
      { numRuns: 300 },
    );
  });

  it("the agent's own files of any content are read back or reported and treated as absent", () => {
    const state = new StateDir(join(dir, 'agent'));
    state.ensure();
    fc.assert(
      fc.property(contents, (bytes) => {
        writeFileSync(state.file('credential.json'), bytes);
        const reports: string[] = [];
        const value = state.read('credential.json', Credential, (m) => reports.push(m));
        if (value === undefined) expect(reports).toEqual([expect.stringContaining('is unreadable')]);
        else expect(Credential.safeParse(value).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
