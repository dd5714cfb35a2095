import { defineConfig } from 'vitest/config';

/**
 * Tests that build network namespaces, load nftables or run routing daemons. Several measure
 * failovers or wait on the agent's timers, so each of these projects runs one file at a time:
 * `kernel` (the data plane: the agent and nftables under traffic), `kernel-converge` (convergence,
 * drift and failover through routing daemons; the same needs) and `kernel-panel` (a production
 * panel beside namespaces: needs `turbo run build`). Their files use namespace prefixes and
 * management subnets of their own, so scripts/test.sh runs the three projects side by side. The
 * rest (PostgreSQL, panels and agents on loopback, pure code, namespace tests with subnets of their
 * own that time nothing: install, upgrade, systemd, prometheus, the renderer's kernel checks in a
 * namespace named by its process, and the panel image, which needs root but no namespace) run two
 * files at a time as `host` (scripts/test.sh asks for three once the other lanes are ending).
 * scripts/test.sh starts the two agent projects before the build, `kernel-panel` once the build is
 * there and `host` once both agent projects are done, as separate processes: one vitest process gives
 * every project that runs at the same time the same number of workers (a plain `vitest run` runs the
 * two agent projects together, then the others one after the other).
 */
const kernelTests = ['apps/agent/test/**/*.test.ts', 'apps/agent/src/announce/*.test.ts'];
const kernelConvergeTests = ['apps/agent/test/{convergence,drift-probe,signalled-document,ha-bgp,ha-vrrp,announce}.test.ts'];
const kernelPanelTests = ['test/*-lab.test.ts', 'test/{faults,lab}.test.ts'];
const allTests = ['{apps,packages}/*/src/**/*.test.ts', '{apps,packages}/*/test/**/*.test.ts', 'test/**/*.test.ts'];
const exclude = ['**/node_modules/**', '**/.next/**'];

export default defineConfig({
  test: {
    // Generous: tests start panels, embedded databases (WebAssembly) and agents, whose starts take
    // many seconds beside the other lanes of `npm test` on a 2-core machine; each wait inside a
    // test has its own, shorter bound that names what did not happen.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // verbose prints each skipped test with its reason.
    reporters: ['verbose'],
    projects: [
      {
        extends: true,
        test: {
          name: 'kernel',
          include: kernelTests,
          exclude: [...exclude, ...kernelConvergeTests],
          fileParallelism: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: { name: 'kernel-converge', include: kernelConvergeTests, exclude, fileParallelism: false, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'kernel-panel', include: kernelPanelTests, exclude, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: {
          name: 'host',
          include: allTests,
          exclude: [...exclude, ...kernelTests, ...kernelPanelTests],
          maxWorkers: 2,
          // Its files share a worker's modules instead of importing them again each (the Prisma client,
          // the routers): 383 CPU-seconds against 426 alone on an idle machine (2026-12-06). No file of
          // it mocks a module; the two that fake timers or set PATH restore them.
          isolate: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
