// The convergence engine, shared by `apply`, `run` and server mode: desired state
// + host facts + health -> model -> one nft transaction and the host changes
// around it. Level-triggered: it compares with what the kernel holds, so applying
// twice changes nothing, and a restart adopts matching kernel state.
//
// Failure model: everything before the nft commit may fail the convergence (the
// previous rules stay in force); from the commit on, the kernel holds the new
// version, so the steps after it (host routes, VIPs, announcements, cleanup) only
// ever add warnings, and the saved state records the new version.
import { createHash } from 'node:crypto';
import { canonicalIp, DesiredState } from '@tula/protocol';
import {
  buildModel,
  ModelCache,
  patchModel,
  renderRepair,
  renderSync,
  STATE_SET,
  tableHash,
  type DataplaneModel,
  type HostFacts,
  type NftTable,
  type TableDamage,
} from '@tula/nft';
import { z } from 'zod';
import { describeError } from '../commands/errors.ts';
import { gatherFacts } from '../host/facts.ts';
import { deletePins, deleteTulaTables, nftApply, readTable, tableState, tulaTablesPresent, type KernelObject } from '../kernel/nft.ts';
import type { StateDir } from '../state-dir.ts';
import { announceAll, cleanupHost, emptyHostRecord, HostRecord, prepareHost, resetHost, takeVips } from './host.ts';

type Facts = Omit<HostFacts, 'unhealthy' | 'previousIds' | 'previousServiceIds'>;
const SavedFacts = z.object({
  interfaces: z.record(z.string(), z.object({ mac: z.string() })),
  serviceInterfaces: z.record(z.string(), z.string()),
  neighbours: z.record(z.string(), z.string()),
});

export const Drift = z.object({ at: z.string(), what: z.array(z.string()) });
export type Drift = z.infer<typeof Drift>;

/**
 * What the agent saves: the inputs of the model it applied, not the model. The
 * model is built again from them (with the ids it had) and checked against the
 * table hashes, which the kernel's tables also record.
 */
const Applied = z.object({
  version: z.int().min(0),
  appliedAt: z.string(),
  state: DesiredState,
  facts: SavedFacts,
  unhealthy: z.array(z.string()),
  ids: z.record(z.string(), z.int()),
  serviceIds: z.record(z.string(), z.int()),
  /** Family -> hash of the table the model renders. */
  tables: z.record(z.string(), z.string()),
  /** Warnings of the last convergence (model findings and failed steps after the commit). */
  warnings: z.array(z.string()).default([]),
  /** `${service}|${address}` -> when the agent first saw the backend draining (ms). */
  drainingSince: z.record(z.string(), z.number()).default({}),
  /** Draining backends whose pinned flows were already released. */
  drained: z.array(z.string()).default([]),
  /** The last time the kernel was found not to hold what Tula wrote, and what differed. */
  lastDrift: Drift.optional(),
});
type Applied = z.infer<typeof Applied>;

/**
 * Reading the tables back costs about as much as the Maglev tables are large (nft
 * lists some 50,000 elements a second): after a verification that took T, the
 * next waits 10 T, so it takes at most a tenth of the agent's time. One that took
 * under a second runs again at the next re-check.
 */
const VERIFY_SHARE_FACTOR = 10;
const VERIFY_ALWAYS_MS = 1000;

export const APPLIED_FILE = 'applied.json';
export const HOST_FILE = 'host.json';

export interface ConvergeResult {
  version: number;
  /** Whether anything in the kernel changed. */
  changed: boolean;
  /** Tables that were rebuilt whole rather than patched. */
  replacedTables: string[];
  script: string;
  warnings: string[];
  /** Differences between the kernel and what Tula last wrote, found (and repaired) by this convergence. */
  drift: string[];
  model: DataplaneModel;
}

export interface ConvergerOptions {
  stateDir: StateDir;
  /** Compute and render everything, touch nothing in the kernel (protocol tests, previews). */
  dryRun?: boolean;
  log?: (message: string) => void;
  now?: () => number;
  /** Use these facts instead of reading the host (tests, troubleshooting). */
  facts?: Facts;
}

/** Facts for a dry run: every interface named exists and every backend MAC is known. */
export function syntheticFacts(state: DesiredState): Facts {
  const interfaces: HostFacts['interfaces'] = {};
  const serviceInterfaces: Record<string, string> = {};
  const neighbours: Record<string, string> = {};
  for (const s of state.balancer?.services ?? []) {
    const ifname = s.interface ?? 'eth0';
    interfaces[ifname] = { mac: '02:00:00:00:00:01' };
    serviceInterfaces[s.name] = ifname;
    s.backends.forEach((b, i) => {
      neighbours[`${ifname}|${canonicalIp(b.address)}`] = `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    });
  }
  return { interfaces, serviceInterfaces, neighbours };
}

/** The saved state and the model built again from it; undefined when absent, unreadable or not reproducible. */
export function loadApplied(stateDir: StateDir, log: (m: string) => void, cache = new ModelCache()): { applied: Applied; model: DataplaneModel } | undefined {
  const applied = stateDir.read(APPLIED_FILE, Applied, log);
  if (!applied) return undefined;
  const model = buildModel(
    applied.state,
    { ...applied.facts, unhealthy: applied.unhealthy, previousIds: applied.ids, previousServiceIds: applied.serviceIds },
    cache,
  );
  const same = model.tables.length === Object.keys(applied.tables).length && model.tables.every((t) => applied.tables[t.family] === tableHash(t));
  if (!same) {
    log(`${stateDir.file(APPLIED_FILE)} does not rebuild the tables it recorded (another agent version?); the tables will be rebuilt`);
    return { applied, model: { ...model, tables: [] } };
  }
  return { applied, model };
}

const sameRecord = <V>(a: Record<string, V>, b: Record<string, V>) => {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};

const stateHashes = new WeakMap<DesiredState, string>();
/** Identifies a model's inputs; the desired state is hashed once per object (the daemon passes the same one at every resync). */
function inputKey(state: DesiredState, facts: Facts, unhealthy: readonly string[]): string {
  let s = stateHashes.get(state);
  if (!s) stateHashes.set(state, (s = createHash('sha256').update(JSON.stringify(state)).digest('hex')));
  return createHash('sha256').update(s).update(JSON.stringify(facts)).update(JSON.stringify([...unhealthy].sort())).digest('hex');
}

/** Per object of a table, how many rules or elements the model puts there (undefined: a flow table). */
const expectedCounts = new WeakMap<NftTable, Map<string, number | undefined>>();
function expected(t: NftTable): Map<string, number | undefined> {
  let out = expectedCounts.get(t);
  if (out) return out;
  out = new Map<string, number | undefined>([['set state', 1]]);
  const keys = new Map<string, Set<string>>();
  for (const f of t.fragments.values()) {
    for (const [set, m] of f.elements) {
      let k = keys.get(set);
      if (!k) keys.set(set, (k = new Set()));
      for (const key of m.keys()) k.add(key);
    }
  }
  for (const [name, s] of t.sets) out.set(`set ${name}`, s.dynamic ? undefined : (keys.get(name)?.size ?? 0));
  for (const [name, c] of t.chains) out.set(`chain ${name}`, c.rules.length);
  expectedCounts.set(t, out);
  return out;
}

/**
 * How the kernel's table differs from the model: object by object, counts of
 * rules and elements against the model, and digests against what the kernel held
 * when it last matched (`baseline`), which catches a changed element or rule.
 * Changed contents and foreign objects can be put right in place (`damage`); a
 * missing object or a changed declaration needs the table rebuilt.
 */
function differences(
  t: NftTable,
  kernel: Map<string, KernelObject> | undefined,
  baseline: Map<string, KernelObject> | undefined,
): { found: string[]; damage: TableDamage; rebuild: boolean } {
  const where = `${t.family} tula`;
  const damage: TableDamage = { sets: [], chains: [], foreign: [] };
  if (!kernel) return { found: [`table ${where} is missing`], damage, rebuild: true };
  const found: string[] = [];
  let rebuild = false;
  const want = expected(t);
  const damaged = (key: string) => (key.startsWith('chain ') ? damage.chains : damage.sets).push(key.slice(key.indexOf(' ') + 1));
  for (const [key, count] of want) {
    const k = kernel.get(key);
    const before = baseline?.get(key);
    if (!k) {
      found.push(`${where}: ${key} is missing`);
      rebuild = true;
    } else if (before && before.head !== k.head) {
      found.push(`${where}: ${key} was declared anew`);
      rebuild = true;
    } else if (count !== undefined && k.count !== count) {
      found.push(`${where}: ${key} holds ${k.count} ${key.startsWith('chain ') ? 'rules' : 'elements'}, expected ${count}`);
      damaged(key);
    } else if (before && before.digest !== k.digest) {
      found.push(`${where}: ${key} was changed`);
      damaged(key);
    }
  }
  for (const [key, k] of kernel) {
    if (want.has(key)) continue;
    found.push(`${where}: ${key} is not Tula's`);
    damage.foreign.push({ kind: k.kind, name: key.slice(key.indexOf(' ') + 1) });
  }
  return { found, damage, rebuild };
}

export class Converger {
  private current: DataplaneModel | undefined;
  private adopted = false;
  private applied: Applied | undefined;
  /** Inputs of `current`, to tell an idle resync from a change without building a model. */
  private currentInputs: string | undefined;
  /** Inputs recorded in the saved state. */
  private savedInputs: string | undefined;
  private currentFacts: Facts | undefined;
  /** Each table's objects as the kernel held them when they last matched the model; cleared by every commit. */
  private readonly baseline = new Map<string, Map<string, KernelObject>>();
  private readonly log: (m: string) => void;
  private readonly now: () => number;
  private readonly cache = new ModelCache();
  /** When the kernel's tables may be read back again (see VERIFY_SHARE_FACTOR). */
  private nextVerifyAt = 0;
  /** Full model builds, for tests and the benchmark (an idle resync builds none). */
  builds = 0;
  /** Aborted when the agent stops: work after the commit (announcing VIPs) ends at once. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: ConvergerOptions) {
    this.log = options.log ?? (() => undefined);
    this.now = options.now ?? Date.now;
  }

  get model(): DataplaneModel | undefined {
    return this.current;
  }

  /** Takes over the last applied model if the kernel's tables record it. */
  private async adopt(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    const saved = loadApplied(this.options.stateDir, this.log, this.cache);
    if (!saved) return;
    this.applied = saved.applied;
    this.savedInputs = inputKey(saved.applied.state, saved.applied.facts, saved.applied.unhealthy);
    const adopt = () => {
      this.current = saved.model;
      this.currentFacts = saved.applied.facts;
      this.currentInputs = this.savedInputs;
    };
    if (this.options.dryRun) return adopt();
    const present = await tulaTablesPresent();
    for (const t of saved.model.tables) {
      const state = await tableState(t.family);
      if (!state || state.hash !== tableHash(t)) {
        this.log(`kernel table ${t.family} tula differs from the last applied model; it will be rebuilt`);
        return;
      }
    }
    if (present.length !== saved.model.tables.length) return;
    adopt();
  }

  /**
   * Compares the kernel's tables with the current model. Returns what differed;
   * the script that puts changed objects back in place; and the model less the
   * tables that must be rebuilt (what the kernel holds once the repair ran), or
   * undefined when Tula's tables are unknown.
   */
  private async findDrift(): Promise<{ drift: string[]; repair: string[]; holds: DataplaneModel | undefined }> {
    const held = this.current;
    if (!held || this.options.dryRun) return { drift: [], repair: [], holds: held };
    const drift: string[] = [];
    const repair: string[] = [];
    const keep: NftTable[] = [];
    for (const t of held.tables) {
      const kernel = await readTable(t.family, new Set([...t.sets].filter(([, s]) => s.dynamic).map(([n]) => n)));
      const { found, damage, rebuild } = differences(t, kernel, this.baseline.get(t.family));
      if (kernel && !rebuild && (await tableState(t.family))?.hash !== tableHash(t)) {
        found.push(`${t.family} tula: records another model`);
        damage.sets.push(STATE_SET);
      }
      if (found.length === 0) this.baseline.set(t.family, kernel!);
      else this.baseline.delete(t.family);
      drift.push(...found);
      if (!rebuild) keep.push(t);
      if (found.length && !rebuild) repair.push(...renderRepair(t, held.version, damage));
    }
    const extra = (await tulaTablesPresent()).filter((family) => !held.tables.some((t) => t.family === family));
    for (const family of extra) drift.push(`table ${family} tula should not exist`);
    // An unknown previous state makes the sync remove stray tables (and rebuild the rest).
    if (extra.length) return { drift, repair: [], holds: undefined };
    return { drift, repair, holds: keep.length === held.tables.length ? held : { ...held, tables: keep } };
  }

  /**
   * Converges to `state`. With `healthChanged`, only those services' backends
   * changed health since the last call with the same state: the model is patched
   * instead of rebuilt and the host is not re-read, so the cost does not grow
   * with the number of services. With `verifyKernel`, the kernel's tables are
   * compared with the model first and repaired where they differ.
   */
  async converge(
    state: DesiredState,
    unhealthy: readonly string[] = [],
    options: { verifyKernel?: boolean; healthChanged?: ReadonlySet<string> } = {},
  ): Promise<ConvergeResult> {
    await this.adopt();
    let verified: { drift: string[]; repair: string[]; holds: DataplaneModel | undefined } = { drift: [], repair: [], holds: this.current };
    if (options.verifyKernel && performance.now() >= this.nextVerifyAt) {
      const began = performance.now();
      verified = await this.findDrift();
      const took = performance.now() - began;
      this.nextVerifyAt = took < VERIFY_ALWAYS_MS ? 0 : performance.now() + VERIFY_SHARE_FACTOR * took;
    }
    const { drift, repair, holds } = verified;
    if (drift.length) this.log(`drift: the kernel does not hold what Tula wrote (${drift.join('; ')}); repairing`);
    const patched = options.healthChanged && this.current && !drift.length ? patchModel(state, unhealthy, options.healthChanged, this.cache) : undefined;
    const facts = patched
      ? this.currentFacts!
      : (this.options.facts ?? (this.options.dryRun ? syntheticFacts(state) : await gatherFacts(state, { probe: true })));
    const inputs = inputKey(state, facts, unhealthy);
    // Same inputs: the model is the one the kernel should hold (drift or not), with nothing to build.
    const idle = !patched && this.current !== undefined && inputs === this.currentInputs;
    let model: DataplaneModel;
    if (patched || idle) model = patched ?? this.current!;
    else {
      this.builds++;
      model = buildModel(
        state,
        { ...facts, unhealthy: [...unhealthy], previousIds: (this.current ?? this.applied)?.ids, previousServiceIds: (this.current ?? this.applied)?.serviceIds },
        this.cache,
      );
    }
    const sync = renderSync(holds, model);
    // One transaction: put back what was changed, then move on to the model.
    if (repair.length) sync.script = `${repair.join('\n')}\n${sync.script}`;
    const warnings = [...model.warnings];

    if (!this.options.dryRun) {
      const record = this.options.stateDir.read(HOST_FILE, HostRecord, this.log) ?? emptyHostRecord();
      const recorded = JSON.stringify(record);
      const saveRecord = () => {
        if (JSON.stringify(record) !== recorded) this.options.stateDir.write(HOST_FILE, record);
      };
      const step = async (what: string, run: () => Promise<void>) => {
        try {
          await run();
        } catch (err) {
          warnings.push(`${what}: ${describeError(err)}`);
        }
      };
      try {
        // A patch changes elements only: the host around the tables stays as it is.
        // A re-check of the version already applied (same inputs) only repairs: a
        // failure there is a warning, like every step after a commit.
        if (!patched && idle && !sync.script) await step('setting up the host for the rules', () => prepareHost(model.host, record));
        else if (!patched) await prepareHost(model.host, record);
        // A rejected transaction throws here and leaves the previous rules in force.
        await nftApply(sync.script);
      } finally {
        saveRecord();
      }
      // Committed: the kernel holds the new version. Nothing below can fail the convergence.
      if (sync.script) this.baseline.clear();
      if (!patched) await step('removing what the previous version used', () => cleanupHost(model.host, record));
      let taken: { vip: string; interface: string }[] = [];
      if (!patched) await step('taking the VIPs on', async () => void (taken = await takeVips(model.host, record, this.stopping.signal)));
      saveRecord();
      warnings.push(...(await announceAll(taken, this.stopping.signal)));
    }

    this.current = model;
    this.currentInputs = inputs;
    this.currentFacts = facts;
    this.save(inputs, state, facts, unhealthy, model, warnings, drift);
    return { version: state.version, changed: sync.script !== '', replacedTables: sync.replaced, script: sync.script, warnings, drift, model };
  }

  /** Writes the saved state when something in it changed (an idle resync writes nothing). */
  private save(inputs: string, state: DesiredState, facts: Facts, unhealthy: readonly string[], model: DataplaneModel, warnings: string[], drift: string[]): void {
    const before = this.applied;
    const tables = Object.fromEntries(model.tables.map((t) => [t.family, tableHash(t)]));
    const drainingSince = this.drainingSince(model, before);
    const drained = (before?.drained ?? []).filter((k) => model.backends.some((b) => `${b.service}|${b.address}` === k && b.condition === 'draining'));
    const unchanged =
      before !== undefined &&
      inputs === this.savedInputs &&
      drift.length === 0 &&
      sameRecord(before.ids, model.ids) &&
      sameRecord(before.serviceIds, model.serviceIds) &&
      sameRecord(before.tables, tables) &&
      sameRecord(before.drainingSince, drainingSince) &&
      JSON.stringify([before.warnings, before.drained]) === JSON.stringify([warnings, drained]);
    if (unchanged) return;
    this.applied = {
      version: state.version,
      appliedAt: new Date(this.now()).toISOString(),
      state,
      facts,
      unhealthy: [...unhealthy].sort(),
      ids: model.ids,
      serviceIds: model.serviceIds,
      tables,
      warnings,
      drainingSince,
      drained,
      ...(drift.length ? { lastDrift: { at: new Date(this.now()).toISOString(), what: drift } } : before?.lastDrift ? { lastDrift: before.lastDrift } : {}),
    };
    this.savedInputs = inputs;
    this.options.stateDir.write(APPLIED_FILE, this.applied);
  }

  private drainingSince(model: DataplaneModel, previous: Applied | undefined): Record<string, number> {
    const out: Record<string, number> = {};
    for (const b of model.backends) {
      if (b.condition !== 'draining') continue;
      const key = `${b.service}|${b.address}`;
      out[key] = previous?.drainingSince[key] ?? this.now();
    }
    return out;
  }

  /** Ends the drain of backends whose drain timeout passed: their pinned flows are released. */
  async expireDrains(state: DesiredState): Promise<string[]> {
    if (!this.applied || !this.current || this.options.dryRun) return [];
    const expired: string[] = [];
    for (const [key, since] of Object.entries(this.applied.drainingSince)) {
      if (this.applied.drained.includes(key)) continue;
      const [service, address] = key.split('|') as [string, string];
      const timeout = state.balancer?.services.find((s) => s.name === service)?.drainTimeoutS ?? 300;
      if (this.now() - since < timeout * 1000) continue;
      const b = this.current.backends.find((x) => x.service === service && x.address === address);
      if (b) await deletePins('netdev', b.flowMap, b.mark);
      this.applied.drained.push(key);
      expired.push(key);
    }
    if (expired.length) this.options.stateDir.write(APPLIED_FILE, this.applied);
    return expired;
  }

  /** Ends what a running convergence still does after its commit (announcements), so the agent stops promptly. */
  stop(): void {
    this.stopping.abort();
  }

  /** Removes everything Tula installed: its tables, devices, routes, rules, addresses and sysctl changes. */
  async reset(): Promise<void> {
    const record = this.options.stateDir.read(HOST_FILE, HostRecord, this.log) ?? emptyHostRecord();
    await deleteTulaTables();
    await resetHost(record);
    this.options.stateDir.remove(HOST_FILE);
    this.options.stateDir.remove(APPLIED_FILE);
    this.current = undefined;
    this.applied = undefined;
  }
}
