// Compiles the panel's custom server (server.ts: database, agent gateway, Next on
// one port) and the workspace packages it imports (TypeScript source) to one
// JavaScript file; npm packages stay imports. `npm run build` writes
// .next/tula-server.mjs, which `npm start` and the tests run: without it every
// start compiled those sources again through tsx (about 1.3 s of CPU of the 2.8 s
// a panel took to listen, measured 2026-12-06, and tests start panels dozens of
// times). scripts/build-standalone.mjs uses bundleServer for the panel image.
//   node scripts/server-bundle.mjs             build .next/tula-server.mjs
//   node scripts/server-bundle.mjs --if-stale  only when a source it holds is newer
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const web = fileURLToPath(new URL('..', import.meta.url));
const SERVER_BUNDLE = join(web, '.next/tula-server.mjs');
const INPUTS = join(web, '.next/tula-server.inputs.json');

/**
 * Bundles server.ts into `outfile`. `runsIn` is where in this tree the file runs from, or the
 * directory that stands for it in a tree laid out as this one: each module's import.meta.url is
 * kept relative to its source there, for the files modules find next to themselves
 * (prisma/migrations, the web directory). `lab: false` leaves out the local lab (a panel image
 * never runs it: it needs root and network namespaces). Resolves to the source files it holds.
 */
export async function bundleServer({ outfile, runsIn, lab }) {
  const result = await build({
    entryPoints: [join(web, 'server.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    logLevel: 'warning',
    metafile: true,
    plugins: [
      {
        name: 'tula-server',
        setup(b) {
          // npm packages stay packages; workspace packages (TypeScript source) are compiled in.
          b.onResolve({ filter: /^[^./]/ }, (args) => {
            if ((args.path === '@tula/lab' && !lab) || !args.path.startsWith('@tula/')) return { external: true };
            return undefined;
          });
          b.onLoad({ filter: /\.(ts|tsx|mts)$/ }, async (args) => {
            if (args.path.includes('/node_modules/')) return undefined;
            const text = await readFile(args.path, 'utf8');
            if (!text.includes('import.meta.url')) return undefined;
            const at = relative(runsIn, args.path);
            return {
              contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(at)}, import.meta.url).href`),
              loader: extname(args.path).slice(1),
            };
          });
        },
      },
    ],
  });
  return Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules/'));
}

function stale() {
  if (!existsSync(SERVER_BUNDLE) || !existsSync(INPUTS)) return true;
  const built = statSync(SERVER_BUNDLE).mtimeMs;
  const inputs = JSON.parse(readFileSync(INPUTS, 'utf8'));
  return inputs.some((p) => !existsSync(p) || statSync(p).mtimeMs > built);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale') && !stale()) process.exit(0);
  // Written beside and renamed into place: panels starting meanwhile read the old file or the new one whole.
  const temp = `${SERVER_BUNDLE}.${process.pid}.tmp`;
  const inputs = await bundleServer({ outfile: temp, runsIn: dirname(SERVER_BUNDLE), lab: true });
  writeFileSync(`${INPUTS}.${process.pid}.tmp`, JSON.stringify(inputs.map((p) => join(process.cwd(), p))));
  renameSync(`${INPUTS}.${process.pid}.tmp`, INPUTS);
  renameSync(temp, SERVER_BUNDLE);
}
