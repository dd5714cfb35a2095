// Whether README command 1 can build the lab here, and if not, what to install: the lab's router and
// balancers run bird2, so a machine without it is told so at start, not later by a failed lab.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { labAvailability } from '../src/lab.ts';

const PATH = process.env.PATH;
let dir: string | undefined;
afterEach(() => {
  process.env.PATH = PATH;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it.skipIf(process.getuid?.() !== 0)(
  'names bird2 when nftables and iproute2 are there but bird is not (needs root, as CI runs)',
  async () => {
    expect(await labAvailability()).toBeUndefined();
    // A PATH with nft and ip only.
    dir = mkdtempSync(join(tmpdir(), 'tula-lab-path-'));
    for (const command of ['nft', 'ip']) symlinkSync(`/usr/sbin/${command}`, join(dir, command));
    process.env.PATH = dir;
    expect(await labAvailability()).toMatch(/^the lab needs nftables, iproute2 and bird2: `sudo apt-get install nftables iproute2 bird2`/);
  },
);
