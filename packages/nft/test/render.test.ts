// The renderer is a pure function: golden files pin its output, and the kernel
// (`nft -c` in a scratch network namespace) accepts everything it writes.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { parseDesiredState, type DesiredState, type DesiredStateInput } from '@tula/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildModel,
  ModelCache,
  ModelError,
  patchDocument,
  patchModel,
  renderFull,
  renderSync,
  tableContents,
  tableHash,
  type DataplaneModel,
  type HostFacts,
} from '../src/index.ts';

const run = promisify(execFile);
const dir = new URL('./golden/', import.meta.url).pathname;

function parse(input: unknown): DesiredState {
  const r = parseDesiredState(input);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.value;
}

describe('golden files', () => {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.state.json'))) {
    const name = file.replace('.state.json', '');
    it(`${name} renders as recorded (UPDATE_GOLDEN=1 rewrites)`, () => {
      const state = parse(JSON.parse(readFileSync(`${dir}${file}`, 'utf8')));
      const facts = JSON.parse(readFileSync(`${dir}${name}.facts.json`, 'utf8')) as HostFacts;
      const script = renderFull(buildModel(state, facts));
      expect(renderFull(buildModel(state, facts))).toBe(script);
      if (process.env.UPDATE_GOLDEN) writeFileSync(`${dir}${name}.nft`, script);
      expect(script).toBe(readFileSync(`${dir}${name}.nft`, 'utf8'));
    });
  }
});

// ---------------------------------------------------------------------------
// Kernel acceptance: needs root and nft.

const NS = `tula-render-${process.pid}`;
const canUseKernel =
  process.getuid?.() === 0 &&
  (await run('nft', ['--version']).then(
    () => true,
    () => false,
  ));
// Bounded: a command that hangs fails the run naming itself, not as the test's timeout (once in a CI run, 25 runs of the
// incremental-sync property outlasted 120 s where they take 2 s, and which command waited was not known).
const nsExec = (argv: string[], input?: string) => {
  const p = run('ip', ['netns', 'exec', NS, ...argv], { timeout: 30_000 });
  if (input !== undefined) p.child.stdin!.end(input);
  return p;
};

const FACTS: HostFacts = {
  interfaces: { eth0: { mac: '02:00:00:00:00:02' }, eth1: { mac: '02:00:00:00:00:03' } },
  serviceInterfaces: {},
  neighbours: {},
  unhealthy: [],
};

const uniqueBy = <T>(items: T[], key: (item: T) => unknown): T[] => items.filter((x, i) => items.findIndex((y) => key(y) === key(x)) === i);

/** Valid documents: unique names, non-overlapping listeners, mode-appropriate addresses. */
const docArb: fc.Arbitrary<DesiredStateInput> = fc
  .record({
    version: fc.nat(1000),
    services: fc.uniqueArray(
      fc.record({
        name: fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/),
        vipIndex: fc.nat(3),
        v6: fc.boolean(),
        port: fc.integer({ min: 1, max: 65000 }),
        range: fc.nat(50),
        protocol: fc.constantFrom('tcp', 'udp'),
        mode: fc.constantFrom('l2', 'l3', 'nat'),
        tunnel: fc.constantFrom('ipip', 'gre', 'vxlan'),
        backendPort: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        iface: fc.constantFrom('eth0', 'eth1'),
        backends: fc.uniqueArray(
          fc.record({
            host: fc.integer({ min: 1, max: 250 }),
            weight: fc.integer({ min: 1, max: 5 }),
            state: fc.constantFrom('active', 'draining', 'disabled'),
          }),
          { selector: (b) => b.host, maxLength: 6 },
        ),
      }),
      { selector: (s) => s.name, maxLength: 6 },
    ),
    vips: fc.uniqueArray(
      fc.record({
        host: fc.integer({ min: 1, max: 250 }),
        v6: fc.boolean(),
        mode: fc.constantFrom('l2', 'l3'),
        tunnel: fc.constantFrom('gre', 'vxlan'),
        mss: fc.option(fc.integer({ min: 536, max: 1460 }), { nil: undefined }),
      }),
      { selector: (v) => `${v.host}${v.v6}`, maxLength: 4 },
    ),
  })
  .map(({ version, services, vips }) => {
    const used: { key: string; lo: number; hi: number }[] = [];
    const out = [];
    for (const s of services) {
      const vip = s.v6 ? `2001:db8::${s.vipIndex + 1}` : `10.0.0.${s.vipIndex + 1}`;
      const hi = Math.min(65535, s.port + s.range);
      const key = `${vip}/${s.protocol}`;
      if (used.some((u) => u.key === key && s.port <= u.hi && u.lo <= hi)) continue;
      used.push({ key, lo: s.port, hi });
      const tunnel = s.v6 && s.tunnel === 'ipip' ? 'vxlan' : s.tunnel;
      out.push({
        name: s.name,
        vip,
        ...(s.range ? { ports: `${s.port}-${hi}` } : { port: s.port }),
        protocol: s.protocol,
        mode: s.mode,
        ...(s.mode === 'l3' && { tunnel }),
        interface: s.iface,
        // NAT backends come from 8 hosts, so that services often share a target (the same address and port).
        backends: (s.mode === 'nat'
          ? uniqueBy(
              s.backends.map((b) => ({ ...b, host: (b.host % 8) + 1 })),
              (b) => b.host,
            )
          : s.backends
        ).map((b) => ({
          // L3 hosts are per tunnel type: a balancer reaches a host through one tunnel; NAT needs the VIP's family.
          address:
            s.mode !== 'l3' && s.v6
              ? `2001:db8:1::${b.host.toString(16)}`
              : `10.1.${s.mode === 'l3' ? ['ipip', 'gre', 'vxlan'].indexOf(tunnel) + 1 : 0}.${b.host}`,
          weight: b.weight,
          state: b.state,
          ...(s.mode === 'nat' && !s.range && s.backendPort !== undefined && { port: s.backendPort }),
          ...(s.mode === 'l2' ? { mac: `02:00:00:00:01:${b.host.toString(16).padStart(2, '0')}` } : {}),
        })),
      });
    }
    return {
      apiVersion: 'tula/v1' as const,
      version,
      balancer: { services: out },
      backend: {
        vips: vips.map((v) => ({
          vip: v.v6 ? `2001:db8:2::${v.host.toString(16)}` : `10.2.0.${v.host}`,
          mode: v.mode,
          tunnel: v.tunnel,
          ...(v.mss !== undefined ? { mss: v.mss } : {}),
        })),
      },
    };
  });

function factsFor(state: DesiredState): HostFacts {
  return { ...FACTS, serviceInterfaces: Object.fromEntries((state.balancer?.services ?? []).map((s) => [s.name, s.interface!])) };
}

/** The facts that say `model` was the last build: its ids carried forward, as the agent passes them. */
function previousOf(model: ReturnType<typeof buildModel>): Partial<HostFacts> {
  return { previousIds: model.ids, previousServiceIds: model.serviceIds, previousStackIds: model.stackIds, retiredIds: model.retiredIds };
}

/** The kernel's tables in the scratch namespace hold exactly the model's elements, set by set (flow tables aside). */
async function expectKernelHolds(model: DataplaneModel): Promise<void> {
  for (const t of model.tables) {
    const { stdout } = await nsExec(['nft', '-j', 'list', 'table', t.family, 'tula']);
    const held = new Map<string, number>();
    for (const o of (JSON.parse(stdout) as { nftables: Record<string, { name?: string; elem?: unknown[] }>[] }).nftables) {
      const set = o.set ?? o.map;
      if (set?.name) held.set(set.name, set.elem?.length ?? 0);
    }
    const want = new Map([...tableContents(t).sets].flatMap(([name, keys]) => (keys ? [[name, keys.length] as const] : [])));
    expect(new Map([...held].filter(([name]) => want.has(name))), `${t.family} tula`).toEqual(want);
  }
}

describe.skipIf(!canUseKernel)(`kernel acceptance${canUseKernel ? '' : ' (skipped: needs root and nft)'}`, () => {
  beforeAll(async () => {
    await run('ip', ['netns', 'add', NS]);
    await nsExec(['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    await nsExec(['ip', 'link', 'add', 'tula-vxlan', 'type', 'vxlan', 'external', 'dstport', '4789']);
  });
  afterAll(async () => {
    await run('ip', ['netns', 'del', NS]).catch(() => undefined);
  });

  it('the golden scripts pass nft -c', async () => {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.nft'))) {
      await nsExec(['nft', '-c', '-f', '-'], readFileSync(`${dir}${f}`, 'utf8'));
    }
  });

  it('every valid document renders to a script nft -c accepts', async () => {
    await fc.assert(
      fc.asyncProperty(docArb, async (input) => {
        const state = parse(input);
        await nsExec(['nft', '-c', '-f', '-'], renderFull(buildModel(state, factsFor(state))));
      }),
      { numRuns: 40 },
    );
  });

  it('a NAT target two services share stays while one of them still uses it, and leaves once when both drop it', async () => {
    const nat = (name: string, port: number, hosts: number[]) => ({
      name,
      vip: '10.0.0.1',
      port,
      protocol: 'tcp',
      mode: 'nat',
      interface: 'eth0',
      backends: hosts.map((h) => ({ address: `10.1.0.${h}`, port: 8080 })),
    });
    const doc = (version: number, services: unknown[]) => parse({ apiVersion: 'tula/v1', version, balancer: { services } });
    const steps = [
      doc(1, [nat('web', 80, [5, 6]), nat('api', 81, [5, 7])]),
      // api drops 10.1.0.5:8080, which web still sends to.
      doc(2, [nat('web', 80, [5, 6]), nat('api', 81, [7])]),
      doc(3, [nat('web', 80, [5, 6]), nat('api', 81, [5, 7])]),
      // Both drop it in one sync.
      doc(4, [nat('web', 80, [6]), nat('api', 81, [7])]),
    ];
    let prev: DataplaneModel | undefined;
    for (const state of steps) {
      const model = buildModel(state, { ...factsFor(state), ...(prev && previousOf(prev)) });
      const { script } = renderSync(prev, model);
      await nsExec(['nft', '-f', '-'], script);
      await expectKernelHolds(model);
      prev = model;
    }
  });

  it('an incremental sync between any two documents leaves the kernel holding the second', async () => {
    await fc.assert(
      fc.asyncProperty(docArb, docArb, async (a, b) => {
        const sa = parse(a);
        const ma = buildModel(sa, factsFor(sa));
        await nsExec(['nft', '-f', '-'], renderSync(undefined, ma).script);
        const sb = parse(b);
        const mb = buildModel(sb, { ...factsFor(sb), previousIds: ma.ids });
        const sync = renderSync(ma, mb);
        if (sync.script) await nsExec(['nft', '-f', '-'], sync.script);
        for (const t of mb.tables) {
          const { stdout } = await nsExec(['nft', '-j', 'list', 'set', t.family, 'tula', 'state']);
          expect(stdout).toContain(`model=${tableHash(t)}`);
        }
        await expectKernelHolds(mb);
        for (const family of ['netdev', 'inet']) {
          if (!mb.tables.some((t) => t.family === family)) {
            const { stdout } = await nsExec(['nft', 'list', 'tables']);
            expect(stdout).not.toContain(`table ${family} tula`);
          }
        }
      }),
      // No shrinking: twice in CI runs of 2026-12-06 this property outlasted the test's 120 s (it takes 2-8 s), once
      // with every command bounded at 30 s, which looks like a failure shrunk step by step through nft. It did not fail
      // in about 475 runs by hand; a failure now reports its input and seed at once.
      { numRuns: 25, endOnFailure: true },
    );
  });
});

describe('patching a model for health changes', () => {
  it('gives the same tables as building it afresh', () => {
    fc.assert(
      fc.property(docArb, fc.array(fc.nat(), { maxLength: 6 }), (input, picks) => {
        const state = parse(input);
        const all = (state.balancer?.services ?? []).flatMap((s) =>
          s.backends.map((b) => ({ service: s.name, key: `${s.name}|${b.address}` })),
        );
        if (all.length === 0) return;
        const down = [...new Set(picks.map((p) => all[p % all.length]!))];
        const cache = new ModelCache();
        buildModel(state, factsFor(state), cache);
        const patched = patchModel(
          state,
          down.map((d) => d.key),
          new Set(down.map((d) => d.service)),
          cache,
        )!;
        const fresh = buildModel(state, { ...factsFor(state), unhealthy: down.map((d) => d.key) });
        expect(patched.tables.map(tableHash)).toEqual(fresh.tables.map(tableHash));
        expect(patched.backends).toEqual(fresh.backends);
        expect(renderFull(patched)).toBe(renderFull(fresh));
      }),
      { numRuns: 100 },
    );
  });

  it('changes map elements, never rules, when a backend changes health or state', () => {
    const doc = (state: 'active' | 'draining' | 'disabled') =>
      parse({
        apiVersion: 'tula/v1',
        version: 1,
        balancer: {
          services: [
            {
              name: 'a',
              vip: '10.0.0.1',
              port: 80,
              protocol: 'tcp',
              mode: 'l2',
              interface: 'eth0',
              backends: [
                { address: '10.1.0.1', mac: '02:00:00:00:00:01' },
                { address: '10.1.0.2', mac: '02:00:00:00:00:02', state },
              ],
            },
            {
              name: 'b',
              vip: '10.0.0.2',
              port: 53,
              protocol: 'udp',
              mode: 'l3',
              tunnel: 'vxlan',
              interface: 'eth0',
              backends: [{ address: '10.1.0.3' }, { address: '10.1.0.4' }],
            },
          ],
        },
      });
    const state = doc('active');
    const cache = new ModelCache();
    const base = buildModel(state, factsFor(state), cache);
    const onlyElements = (script: string) =>
      script
        .trim()
        .split('\n')
        .every((l) => /^(add|delete) element netdev tula /.test(l));
    const down = patchModel(state, ['a|10.1.0.2'], new Set(['a']), cache)!;
    const s1 = renderSync(base, down).script;
    expect(s1).toContain('delete element netdev tula takes_traffic');
    expect(onlyElements(s1)).toBe(true);
    for (const next of ['draining', 'disabled'] as const) {
      const other = doc(next);
      const s2 = renderSync(
        base,
        buildModel(other, { ...factsFor(other), previousIds: base.ids, previousServiceIds: base.serviceIds }),
      ).script;
      expect(s2).not.toBe('');
      expect(onlyElements(s2)).toBe(true);
    }
  });

  it('refuses to patch from another state', () => {
    const input: DesiredStateInput = {
      apiVersion: 'tula/v1',
      version: 1,
      balancer: {
        services: [
          {
            name: 'a',
            vip: '10.0.0.1',
            port: 80,
            protocol: 'tcp',
            mode: 'l2',
            interface: 'eth0',
            backends: [{ address: '10.1.0.1', mac: '02:00:00:00:00:01' }],
          },
        ],
      },
    };
    const state = parse(input);
    const cache = new ModelCache();
    expect(patchModel(state, ['a|10.1.0.1'], new Set(['a']), cache)).toBeUndefined();
    buildModel(state, factsFor(state), cache);
    expect(patchModel(state, ['a|10.1.0.1'], new Set(['a']), cache)?.backends[0]?.condition).toBe('down');
    // The same services in another document: the patch would carry the old version.
    const next = parse({ ...input, version: 2 });
    expect(patchModel(next, ['a|10.1.0.1'], new Set(['a']), cache)).toBeUndefined();
  });
});

describe('patching a model for a new document', () => {
  type Change = 'weight' | 'state' | 'port' | 'flowTimeout' | 'mode' | 'unhealthy';
  /** `input` with one service changed; weight, state and port changes keep its chains and ids, so they must patch. */
  function changed(input: DesiredStateInput, pick: number, change: Change): DesiredStateInput {
    const services = input.balancer!.services.map((s, i) => {
      if (i !== pick % input.balancer!.services.length) return s;
      const backends = (s.backends ?? []).map((b) => ({ ...b }));
      if (change === 'weight' && backends[0]) backends[0].weight = (backends[0].weight ?? 1) + 1;
      if (change === 'state' && backends[0]) backends[0].state = backends[0].state === 'draining' ? 'active' : 'draining';
      if (change === 'port' && s.port !== undefined) return { ...s, port: s.port === 1 ? 2 : s.port - 1, backends };
      if (change === 'flowTimeout') return { ...s, flowTimeoutS: 17, backends };
      if (change === 'mode') return { ...s, mode: s.mode === 'l2' ? ('nat' as const) : ('l2' as const), backends };
      return { ...s, backends };
    });
    return { ...input, version: (input.version ?? 0) + 1, balancer: { ...input.balancer, services } };
  }

  it('gives the same model as building it afresh, and patches when only elements change', () => {
    fc.assert(
      fc.property(
        docArb,
        fc.nat(),
        fc.constantFrom<Change>('weight', 'state', 'port', 'flowTimeout', 'mode', 'unhealthy'),
        (input, pick, change) => {
          if ((input.balancer?.services ?? []).length === 0) return;
          const state = parse(input);
          const cache = new ModelCache();
          const base = buildModel(state, factsFor(state), cache);
          let next: DesiredState;
          try {
            next = parse(changed(input, pick, change));
          } catch {
            return; // e.g. the port change collides with another service's listener
          }
          const service = next.balancer!.services[pick % next.balancer!.services.length]!;
          const unhealthy = change === 'unhealthy' && service.backends[0] ? [`${service.name}|${service.backends[0].address}`] : [];
          const facts: HostFacts = {
            ...factsFor(next),
            unhealthy,
            ...previousOf(base),
          };
          const patched = patchDocument(next, facts, cache)?.model;
          const fresh = buildModel(next, facts);
          if (['weight', 'state', 'port', 'unhealthy'].includes(change)) expect(patched).toBeDefined();
          if (!patched) return;
          expect(patched.tables.map(tableHash)).toEqual(fresh.tables.map(tableHash));
          expect(renderFull(patched)).toBe(renderFull(fresh));
          expect({ ...patched, tables: [], warnings: [...patched.warnings].sort() }).toEqual({
            ...fresh,
            tables: [],
            warnings: [...fresh.warnings].sort(),
          });
          // The transaction touches the changed service's elements only.
          for (const line of renderSync(base, patched).script.trim().split('\n').filter(Boolean))
            expect(line).toMatch(/^(add|delete) element (netdev|inet) tula /);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("declines when the ids it is given are not the last build's, or a service is added", () => {
    const input: DesiredStateInput = {
      apiVersion: 'tula/v1',
      version: 1,
      balancer: {
        services: ['a', 'b'].map((name, i) => ({
          name,
          vip: `10.0.0.${i + 1}`,
          port: 80,
          protocol: 'tcp' as const,
          mode: 'l2' as const,
          interface: 'eth0',
          backends: [{ address: `10.1.0.${i + 1}`, mac: '02:00:00:00:00:01' }],
        })),
      },
    };
    const state = parse(input);
    const cache = new ModelCache();
    const base = buildModel(state, factsFor(state), cache);
    const next = parse({ ...input, version: 2 });
    const previous = previousOf(base);
    expect(patchDocument(next, { ...factsFor(next), ...previous }, cache)?.model.version).toBe(2);
    // Equal ids that are not the build's own objects: nothing proves the caller holds that model.
    expect(patchDocument(next, { ...factsFor(next), ...previous, previousIds: { ...base.ids } }, cache)).toBeUndefined();
    const more = parse({
      ...input,
      version: 3,
      balancer: { services: [...input.balancer!.services, { ...input.balancer!.services[0]!, name: 'c', vip: '10.0.0.3' }] },
    });
    expect(patchDocument(more, { ...factsFor(more), ...previousOf(cache.last!.model) }, cache)).toBeUndefined();
  });
});

describe('dispatch', () => {
  it('looks single ports up in exact-match maps; only port ranges are in interval maps', () => {
    const services = Array.from({ length: 10_000 }, (_, i) => ({
      name: `s${i}`,
      vip: `10.0.${i >> 8}.${i & 255}`,
      port: 80,
      protocol: 'tcp' as const,
      mode: 'l2' as const,
      interface: 'eth0',
      backends: [{ address: '10.1.0.1', mac: '02:00:00:00:01:01' }],
    }));
    const ranges = [
      {
        name: 'r4',
        vip: '10.0.0.1',
        ports: '1000-1999',
        protocol: 'udp' as const,
        mode: 'l2' as const,
        interface: 'eth0',
        backends: [{ address: '10.1.0.1', mac: '02:00:00:00:01:01' }],
      },
      {
        name: 'r6',
        vip: '2001:db8::1',
        ports: '5000-5010',
        protocol: 'tcp' as const,
        mode: 'l2' as const,
        interface: 'eth0',
        backends: [{ address: '2001:db8:1::1', mac: '02:00:00:00:01:01' }],
      },
    ];
    const state = parse({ apiVersion: 'tula/v1', version: 1, balancer: { services: [...services, ...ranges] } });
    const netdev = buildModel(state, factsFor(state)).tables.find((t) => t.family === 'netdev')!;
    // Where each service's (VIP . protocol . port) element went.
    const holder = new Map<string, string>();
    for (const [, f] of netdev.fragments) {
      for (const [set, elements] of f.elements) {
        for (const key of elements.keys()) if (/^[0-9a-f.:]+ \. (tcp|udp) \. [0-9-]+$/.test(key)) holder.set(key, set);
      }
    }
    expect(holder.size).toBe(services.length + ranges.length);
    const isInterval = (set: string) => netdev.sets.get(set)!.interval === true;
    const singles = services.map((s) => holder.get(`${s.vip} . tcp . 80`)!);
    expect(singles.filter(isInterval)).toEqual([]);
    expect(new Set(singles).size).toBe(1);
    expect(
      [holder.get('10.0.0.1 . udp . 1000-1999'), holder.get('2001:db8::1 . tcp . 5000-5010')].every((set) => set && isInterval(set)),
    ).toBe(true);
    // The interval maps hold the ranges and nothing else.
    const inIntervalMaps = [...holder].filter(([, set]) => isInterval(set)).map(([key]) => key);
    expect(inIntervalMaps.sort()).toEqual(['10.0.0.1 . udp . 1000-1999', '2001:db8::1 . tcp . 5000-5010']);
  });
});

/** The segments of a problem's JSON path ($.a.b[0].c), or undefined when it is not one. */
function pathSegments(path: string): (string | number)[] | undefined {
  if (!/^\$(\.[^.[\]]+|\[\d+\])*$/.test(path)) return undefined;
  return [...path.slice(1).matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[1] !== undefined ? m[1] : Number(m[2])));
}

/** Paths of every scalar in a JSON value. */
function leaves(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [at];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...at, Array.isArray(value) ? Number(k) : k]));
}

describe('bad input', () => {
  it('never throws from validation, and lists problems at JSON paths that lead into the document', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const r = parseDesiredState(value);
        if (r.ok) return;
        for (const p of r.problems) {
          const segments = pathSegments(p.path);
          expect(segments, p.path).toBeDefined();
          // Everything above the last segment exists in the input (the last may be a missing field).
          let at: unknown = value;
          for (const seg of segments!.slice(0, -1)) {
            expect(at !== null && typeof at === 'object' && Object.hasOwn(at, seg), `${p.path} in ${JSON.stringify(value)}`).toBe(true);
            at = (at as Record<string | number, unknown>)[seg];
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reports a wrong value anywhere in a valid document at its own path', () => {
    fc.assert(
      fc.property(docArb, fc.nat(), (input, pick) => {
        const doc = structuredClone(input) as unknown as Record<string, unknown>;
        const all = leaves(doc);
        const target = all[pick % all.length]!;
        let parent: Record<string | number, unknown> = doc;
        for (const seg of target.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
        parent[target.at(-1)!] = { wrong: true };
        const r = parseDesiredState(doc);
        expect(r.ok).toBe(false);
        const expected = target.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : `${acc}.${seg}`), '$');
        expect(r.ok ? [] : r.problems.map((p) => p.path)).toContain(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('every document that validates builds a model or reports a clear ModelError', () => {
    let built = 0;
    let refused = 0;
    fc.assert(
      fc.property(docArb, fc.constantFrom('eth0', 'eth1'), (input, missing) => {
        const state = parse(input);
        const facts = factsFor(state);
        // The host lacks one of the interfaces the document names.
        const interfaces = Object.fromEntries(Object.entries(facts.interfaces).filter(([name]) => name !== missing));
        const users = (state.balancer?.services ?? []).filter((s) => s.interface === missing).map((s) => s.name);
        let model: ReturnType<typeof buildModel> | undefined;
        try {
          model = buildModel(state, { ...facts, interfaces });
        } catch (err) {
          expect(err).toBeInstanceOf(ModelError);
          const m = /^service (\S+): interface (\S+) does not exist on this host$/.exec((err as Error).message);
          expect(m, (err as Error).message).not.toBeNull();
          expect(users).toContain(m![1]);
          expect(m![2]).toBe(missing);
          refused++;
          return;
        }
        expect(users).toEqual([]);
        expect(model.version).toBe(state.version);
        built++;
      }),
      { numRuns: 100 },
    );
    // Both outcomes were exercised.
    expect(built).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});
