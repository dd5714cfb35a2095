// Completes a copy of Next's standalone output (apps/web/.next/standalone, from
// `next build` with output: 'standalone') into apps/web/.next/image, the panel
// image's /app: our custom server
// (server.ts: database, agent gateway, Next on one port) compiled to one
// JavaScript file, the npm files it needs, the static assets and the
// migrations. Next traces only its own pages; @vercel/nft (the tracer Next
// ships) traces the compiled server the same way. Run after `next build`:
//   npm run build:standalone -w @tula/web
import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleServer } from './server-bundle.mjs';

const require = createRequire(import.meta.url);
const { nodeFileTrace } = require('next/dist/compiled/@vercel/nft');

const web = fileURLToPath(new URL('..', import.meta.url));
const repo = join(web, '../..');
const standalone = join(web, '.next/standalone');
const out = join(web, '.next/image');
const outWeb = join(out, 'apps/web');
if (!existsSync(join(standalone, 'apps/web/.next/BUILD_ID'))) {
  console.error('build-standalone: no standalone output: run `next build` first (next.config.ts sets output: standalone)');
  process.exit(1);
}
rmSync(out, { recursive: true, force: true });
cpSync(standalone, out, { recursive: true, verbatimSymlinks: true });

// Built beside server.ts, where it resolves packages as it will in the image
// (this tree's layout), traced there, then moved into the standalone tree.
const staged = join(web, 'server.standalone.mjs');
const server = join(outWeb, 'server.mjs');
await bundleServer({ outfile: staged, runsIn: web, lab: false });
let traced;
try {
  // Workspace packages are compiled in; the lab is left out on purpose. A file Next's own trace
  // already put in the standalone output is not traced again: Next traced what it needs from it,
  // and following it here added what only `next dev` and `next build` load (Next's docs,
  // caniuse-lite, its dev runtimes: 1,651 files) and cost 30 of the tracer's 40 CPU-seconds.
  traced = await nodeFileTrace([staged], {
    base: repo,
    ignore: (path) =>
      path.startsWith('node_modules/@tula/') ||
      path.startsWith('packages/') ||
      (path.startsWith('node_modules/') && existsSync(join(out, path))),
  });
} finally {
  renameSync(staged, server);
}
cpSync(join(web, 'standalone-entry.mjs'), join(outWeb, 'start.mjs'));
const { fileList, reasons } = traced;
// better-auth's telemetry (off unless enabled) reads the package.json of every
// installed package to describe the project: those are not files the panel needs.
const onlyForTelemetry = (file) => {
  const parents = [...(reasons.get(file)?.parents ?? [])];
  return parents.length > 0 && parents.every((p) => p.startsWith('node_modules/@better-auth/telemetry/'));
};
let copied = 0;
for (const file of fileList) {
  if (!file.startsWith('node_modules/') || onlyForTelemetry(file)) continue;
  const target = join(out, file);
  if (existsSync(target)) continue;
  mkdirSync(dirname(target), { recursive: true });
  cpSync(join(repo, file), target, { dereference: true });
  copied++;
}
cpSync(join(web, '.next/static'), join(outWeb, '.next/static'), { recursive: true });
cpSync(join(repo, 'prisma/migrations'), join(out, 'prisma/migrations'), { recursive: true });
console.log(`build-standalone: ${relative(repo, server)} and ${copied} traced files in ${relative(repo, out)}`);
