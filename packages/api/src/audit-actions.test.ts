// Every action the panel records has words in the audit log (and an entry in its "what" filter).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AUDIT_ACTIONS } from '@tula/validators';
import { expect, it } from 'vitest';

it('names every recorded action', () => {
  const packages = fileURLToPath(new URL('../../', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
  const recorded = new Set(
    ['api', 'gateway', 'control', 'lab']
      .flatMap((p) => files(join(packages, p, 'src')))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/action: '([a-z_]+\.[a-z_]+)'/g)].map((m) => m[1]!)),
  );
  expect(recorded.size).toBeGreaterThan(20);
  expect([...recorded].filter((a) => !(a in AUDIT_ACTIONS)).sort()).toEqual([]);
});
