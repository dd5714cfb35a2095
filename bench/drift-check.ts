// Benchmark: what the agent's drift check costs at every resync, against the
// read-back it replaced, side by side in one run at 100, 1,000 and 10,000
// services (2 backends each, L2). Needs root; works in a scratch network
// namespace (the script re-runs itself inside it). Run: npm run bench:drift
//
// - before: the read-back of commit 4b3721c, kept verbatim below: `nft -j -t
//   list table` (which in nft 1.0.6 still reads every set element), then one
//   `nft -j list` per static set, then the state set and `nft -j list tables`
//   (which reads every element too).
// - every resync now: one `nft -j -t list ruleset` (no elements), one `nft -c`
//   probe of 256 keys per set, the state set.
// - full read now: the structure read plus one listing per static set, what the
//   agent runs within a tenth of its time (see VERIFY_SHARE_FACTOR), and only on
//   tables of at most 250,000 static elements (FULL_READ_MAX_ELEMENTS).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { parseDesiredState, type DesiredState, type DesiredStateInput } from '@tula/protocol';
import { buildModel, renderProbe, renderSync, STATE_SET, TABLE_NAME, type DataplaneModel, type HostFacts } from '@tula/nft';
import { z } from 'zod';
import { nftApply, normalised, probeElements, readElements, readRuleset, tableState } from '../apps/agent/src/kernel/nft.ts';

const SIZES = (process.env.BENCH_SIZES ?? '100,1000,10000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function state(services: number): DesiredState {
  const list = Array.from({ length: services }, (_, i) => ({
    name: `svc${i}`,
    vip: `10.${(i >> 8) & 255}.${i & 255}.1`,
    port: 80,
    protocol: 'tcp' as const,
    mode: 'l2' as const,
    interface: 'eth0',
    backends: Array.from({ length: 2 }, (_, j) => ({
      address: `172.16.${j}.${(i % 250) + 1}`,
      mac: `02:00:00:00:${j.toString(16).padStart(2, '0')}:01`,
    })),
  }));
  const r = parseDesiredState({ apiVersion: 'tula/v1', version: 1, balancer: { services: list } } satisfies DesiredStateInput);
  if (!r.ok) throw new Error(JSON.stringify(r.problems.slice(0, 3)));
  return r.value;
}

function facts(services: number): HostFacts {
  return {
    interfaces: { eth0: { mac: '02:00:00:00:00:aa' } },
    serviceInterfaces: Object.fromEntries(Array.from({ length: services }, (_, i) => [`svc${i}`, 'eth0'])),
    neighbours: {},
    unhealthy: [],
  };
}

// --- The read-back before this change (apps/agent/src/kernel/nft.ts at 4b3721c; `normalised` is
// unchanged and imported), with nft run
// without the agent's 60 s command timeout so that its cost can be measured at all sizes.
const Listing = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });
function nftJsonOld(args: string[]): Record<string, unknown>[] | undefined {
  const r = spawnSync('nft', ['-j', ...args], { maxBuffer: 1 << 30, encoding: 'utf8' });
  if (r.status !== 0) {
    if (/No such file or directory|does not exist/.test(r.stderr)) return undefined;
    throw new Error(`nft -j ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  return Listing.parse(JSON.parse(r.stdout)).nftables;
}
const digestOf = (parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('hex');
const Named = z.object({ name: z.string() });
const RuleOf = z.object({ chain: z.string() });
const SetListing = z.object({
  set: z.object({ elem: z.array(z.unknown()).optional() }).optional(),
  map: z.object({ elem: z.array(z.unknown()).optional() }).optional(),
});
function readTableOld(family: 'netdev' | 'inet', dynamic: ReadonlySet<string>) {
  const items = nftJsonOld(['-t', 'list', 'table', family, TABLE_NAME]);
  if (!items) return undefined;
  const out = new Map<string, { kind: string; head: string; count: number | undefined; digest: string }>();
  const rules = new Map<string, string[]>();
  for (const item of items) {
    const [kind, body] = Object.entries(item)[0] ?? [];
    if (kind === 'rule') {
      const r = RuleOf.safeParse(body);
      if (!r.success) continue;
      const list = rules.get(r.data.chain) ?? [];
      list.push(JSON.stringify(normalised(body)));
      rules.set(r.data.chain, list);
      continue;
    }
    if (kind !== 'set' && kind !== 'map' && kind !== 'chain') continue;
    const name = Named.parse(body).name;
    const head = JSON.stringify(normalised(body));
    if (kind === 'chain') {
      out.set(`chain ${name}`, { kind, head, count: 0, digest: '' });
    } else if (dynamic.has(name)) {
      out.set(`set ${name}`, { kind, head, count: undefined, digest: digestOf([head]) });
    } else {
      const listed = nftJsonOld(['list', kind, family, TABLE_NAME, name]) ?? [];
      const elems = listed.flatMap((i) => {
        const r = SetListing.safeParse(i);
        return (r.success ? (r.data.set?.elem ?? r.data.map?.elem) : undefined) ?? [];
      });
      const texts = elems.map((e) => JSON.stringify(normalised(e))).sort();
      out.set(`set ${name}`, { kind, head, count: elems.length, digest: digestOf([head, ...texts]) });
    }
  }
  for (const [key, o] of out) {
    if (!key.startsWith('chain ')) continue;
    const list = rules.get(key.slice('chain '.length)) ?? [];
    out.set(key, { ...o, count: list.length, digest: digestOf([o.head, ...list]) });
  }
  return out;
}
// --- end of the old read-back.

const dynamicSets = (model: DataplaneModel) =>
  new Set(model.tables.flatMap((t) => [...t.sets].filter(([, s]) => s.dynamic).map(([n]) => n)));

async function before(model: DataplaneModel) {
  for (const t of model.tables) {
    readTableOld(t.family, dynamicSets(model));
    await tableState(t.family);
  }
  nftJsonOld(['list', 'tables']);
}

let round = 0;
async function everyResync(model: DataplaneModel) {
  const ruleset = await readRuleset();
  for (const t of model.tables) {
    if (!ruleset.get(t.family)) throw new Error(`table ${t.family} ${TABLE_NAME} missing`);
    const probe = await probeElements(renderProbe(t, round++, { min: 256, rounds: 720 }));
    if (probe.missing.length || probe.failed) throw new Error(`probe found drift in an untouched table: ${JSON.stringify(probe)}`);
    await tableState(t.family);
  }
}

async function fullRead(model: DataplaneModel) {
  const ruleset = await readRuleset();
  for (const t of model.tables) {
    const read = await readElements(t.family, ruleset.get(t.family)!, dynamicSets(model));
    if (read.get(`set ${STATE_SET}`)?.count !== 1) throw new Error('state set not read');
    await tableState(t.family);
  }
}

const time = async (f: () => Promise<void>) => {
  const t = performance.now();
  await f();
  return performance.now() - t;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);

async function inside() {
  console.log(
    `load average at start: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log('| services | Maglev map elements | before (one run) | every resync now (median) | full read now (one run) | before / now |');
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const n of SIZES) {
    execFileSync('nft', ['flush', 'ruleset']);
    const model = buildModel(state(n), facts(n));
    await nftApply(renderSync(undefined, model).script);
    const lut = [...model.tables[0]!.fragments.values()].reduce((a, f) => a + (f.elements.get('lut')?.size ?? 0), 0);
    // Interleaved: one old read-back, then the new check, then a full read.
    const old = await time(() => before(model));
    const now: number[] = [];
    for (let i = 0; i < ROUNDS; i++) now.push(await time(() => everyResync(model)));
    const full = await time(() => fullRead(model));
    const m = median(now);
    console.log(
      `| ${n.toLocaleString('en')} | ${lut.toLocaleString('en')} | ${fmt(old)} | ${fmt(m)} | ${fmt(full)} | ${(old / m).toFixed(0)}× |`,
    );
  }
  console.log(
    `load average at end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

if (process.getuid?.() !== 0) {
  console.error('bench/drift-check needs root (network namespaces and nftables)');
  process.exit(2);
}
if (process.env.TULA_DRIFT_BENCH_NS) await inside();
else {
  const ns = `tula-drift-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, TULA_DRIFT_BENCH_NS: ns },
    });
    process.exitCode = r.status ?? 1;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
}
