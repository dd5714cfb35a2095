// The layout rule (docs/ARCHITECTURE.md): one tRPC procedure per file, its zod schema beside it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('no router file defines more than one procedure', () => {
  const root = fileURLToPath(new URL('./routers', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
  const definitions = /^(?:export )?const \w+ = \w*[Pp]rocedure\b/gm;
  const crowded = files(root)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => ({ file: relative(root, f), procedures: readFileSync(f, 'utf8').match(definitions)?.length ?? 0 }))
    .filter((x) => x.procedures > 1);
  expect(crowded).toEqual([]);
});
