// The drift check an agent runs at every re-check (structure + element probes,
// no full read-back) finds each kind of tamper and the repair restores the table.
// Real nftables in a scratch network namespace.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelTestsUnavailable } from './support.ts';

const unavailable = await kernelTestsUnavailable();
const NS = `ps-drift-${process.pid}`;

describe.skipIf(unavailable)(`drift check by probes${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  afterAll(() => {
    execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
  });

  it('finds a flushed map, a missing element, a deleted rule, a foreign rule and chain, and puts the table back', () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    const script = fileURLToPath(new URL('./drift-probe-run.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
    const out = execFileSync('ip', ['netns', 'exec', NS, tsx, script], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<
      string,
      { drift: string[]; rechecks: number; restored: boolean; after: string[] }
    >;
    console.log(JSON.stringify(r, null, 1));
    expect(r.untouched).toEqual({ drift: [], rechecks: 1, restored: true, after: [] });
    const expected: Record<string, RegExp> = {
      'flush lut': /set lut lacks elements/,
      'flush macs': /set macs lacks elements/,
      'delete one lut element': /set lut lacks elements/,
      'delete a rule': /chain \S+ holds \d+ rules, expected \d+/,
      'add a foreign rule': /chain \S+ holds \d+ rules, expected \d+/,
      'add a foreign chain': /chain intruder is not Tula's/,
    };
    for (const [name, pattern] of Object.entries(expected)) {
      expect(r[name]!.drift.join('\n'), name).toMatch(pattern);
      // Only a single missing element may take more than the first re-check (the probes go round the set).
      if (name !== 'delete one lut element') expect(r[name]!.rechecks, `${name}: re-checks`).toBe(1);
      expect(r[name]!.restored, `${name}: table restored`).toBe(true);
      expect(r[name]!.after, `${name}: nothing left to repair`).toEqual([]);
    }
  });
});
