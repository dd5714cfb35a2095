// The convergence engine, shared by `apply`, `run` and server mode: desired state
// + host facts + health -> model -> one nft transaction and the host changes
// around it. Level-triggered: it compares with what the kernel holds, so applying
// twice changes nothing, and a restart adopts matching kernel state.
//
// Failure model: everything before the nft commit may fail the convergence (the
// previous rules stay in force); from the commit on, the kernel holds the new
// version, so the steps after it (host routes, VIPs, announcements, cleanup) only
// ever add warnings, and the saved state records the new version.
import { createHash, randomUUID } from 'node:crypto';
import { BalancerService, backendKey, canonicalIp, DesiredState } from '@tula/protocol';
import {
  buildModel,
  ModelCache,
  patchDocument,
  patchModel,
  renderProbe,
  renderRepair,
  renderSync,
  STATE_SET,
  tableContents,
  tableHash,
  type DataplaneModel,
  type HostFacts,
  type HostPlan,
  type NftTable,
  type TableDamage,
} from '@tula/nft';
import { z } from 'zod';
import { describeError } from '../commands/errors.ts';
import { gatherFacts } from '../host/facts.ts';
import {
  deletePins,
  deleteTulaTables,
  nftApply,
  probeElements,
  readElements,
  readRuleset,
  tableState,
  tulaTablesPresent,
  type KernelObject,
} from '../kernel/nft.ts';
import { addresses, type IfAddress } from '../kernel/ip.ts';
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
  /** Ids within the mark range (L3 backend hosts, NAT targets). */
  stackIds: z.record(z.string(), z.int()).default({}),
  /** Ids of removed backends, out of use until `until` (epoch seconds). */
  retiredIds: z.record(z.string(), z.object({ id: z.int(), until: z.number() })).default({}),
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
 * Saved in two files, so a health change (a few bytes of state) does not rewrite
 * the document (megabytes at 10,000 services): APPLIED_INPUTS_FILE holds what only
 * a new document changes (the document, the host facts, the ids given out) under a
 * random key, written only when that changes; APPLIED_FILE holds the rest and the
 * key. An APPLIED_FILE holding everything (older agents) is read as it is.
 */
const INPUT_FIELDS = { state: true, facts: true, ids: true, serviceIds: true, stackIds: true, retiredIds: true } as const;
const AppliedInputs = Applied.pick(INPUT_FIELDS).extend({ key: z.string() });
const AppliedFile = Applied.partial(INPUT_FIELDS).extend({ inputs: z.string().optional() });
/**
 * A new document that changed a few services is saved as those services (and its
 * version) on top of APPLIED_INPUTS_FILE `inputs`, so saving it costs what changed.
 * A file naming other inputs is stale and ignored.
 */
const AppliedChanges = z.object({ inputs: z.string(), version: z.int().min(0), services: z.array(BalancerService) });

/**
 * A reader in another process (`tula-agent status`) may meet a save half done: APPLIED_INPUTS_FILE
 * already holds the new document and APPLIED_FILE still names the one before (they are written in
 * that order, each renamed into place). It reads again, a few times, before it takes them for a pair
 * that does not belong together.
 */
const TORN_SAVE_RETRIES = 10;
const TORN_SAVE_WAIT_MS = 20;

function readApplied(stateDir: StateDir, log: (m: string) => void): { applied: Applied; inputsKey?: string } | undefined {
  for (let attempt = 0; ; attempt++) {
    const read = readAppliedOnce(stateDir, log);
    if (read !== 'torn') return read;
    if (attempt === TORN_SAVE_RETRIES) {
      log(
        `${stateDir.file(APPLIED_INPUTS_FILE)} is missing or not the one ${stateDir.file(APPLIED_FILE)} names; the tables will be rebuilt`,
      );
      return undefined;
    }
    // Synchronous, as every read of the saved state is: this thread has nothing else to do meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, TORN_SAVE_WAIT_MS);
  }
}

function readAppliedOnce(stateDir: StateDir, log: (m: string) => void): { applied: Applied; inputsKey?: string } | undefined | 'torn' {
  const file = stateDir.read(APPLIED_FILE, AppliedFile, log);
  if (!file) return undefined;
  const { inputs: key, ...rest } = file;
  if (key === undefined) {
    const whole = Applied.safeParse(rest);
    return whole.success ? { applied: whole.data } : undefined;
  }
  const inputs = stateDir.read(APPLIED_INPUTS_FILE, AppliedInputs, log);
  if (!inputs || inputs.key !== key) return 'torn';
  const { key: _key, ...saved } = inputs;
  const changes = stateDir.read(APPLIED_CHANGES_FILE, AppliedChanges, log);
  if (changes?.inputs === key && saved.state.balancer) {
    const changed = new Map(changes.services.map((s) => [s.name, s]));
    const balancer = { ...saved.state.balancer, services: saved.state.balancer.services.map((s) => changed.get(s.name) ?? s) };
    saved.state = { ...saved.state, version: changes.version, balancer };
  }
  return { applied: { ...rest, ...saved }, inputsKey: key };
}

/**
 * Every re-check reads the tables without their elements (chains, rules, set
 * declarations: one `nft -t list ruleset`, a fixed size) and probes
 * PROBE_KEYS elements of each set with `nft -c` (see renderProbe). Reading every
 * element back, which also finds changed values and foreign elements, costs as
 * much as the Maglev tables are large (nft lists some 50,000-100,000 elements a
 * CPU-second): after one that took T, the next waits 10 T, so it takes at most a
 * tenth of the agent's time. One that took under a second runs again at the next
 * re-check.
 */
const VERIFY_SHARE_FACTOR = 10;
const VERIFY_ALWAYS_MS = 1000;
/** Each set's probe takes at least this many keys, and enough to cover the set within PROBE_ROUNDS re-checks (an hour at 5 s). */
const PROBE_KEYS = 256;
const PROBE_ROUNDS = 720;
/**
 * Above this many static elements, a table is never read back whole (at 10,000
 * services it holds some 2.3 million, minutes of nft): structure and probes only.
 */
const FULL_READ_MAX_ELEMENTS = 250_000;

export const APPLIED_FILE = 'applied.json';
export const APPLIED_INPUTS_FILE = 'applied-inputs.json';
export const HOST_FILE = 'host.json';
/** Services changed since APPLIED_INPUTS_FILE was written (see AppliedChanges). */
export const APPLIED_CHANGES_FILE = 'applied-changes.json';
/** The changes file is folded into APPLIED_INPUTS_FILE once it holds more than this share of the services (and CHANGES_MIN). */
const CHANGES_MAX_SHARE = 32;
const CHANGES_MIN = 16;

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
  /** Tables with more static elements are never read back whole (default FULL_READ_MAX_ELEMENTS; 0 in tests of the probes). */
  fullReadMaxElements?: number;
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
      neighbours[`${ifname}|${canonicalIp(b.address)}`] =
        `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
    });
  }
  return { interfaces, serviceInterfaces, neighbours };
}

/** The saved state and the model built again from it; undefined when absent, unreadable or not reproducible. */
export function loadApplied(
  stateDir: StateDir,
  log: (m: string) => void,
  cache = new ModelCache(),
): { applied: Applied; model: DataplaneModel; inputsKey?: string } | undefined {
  const read = readApplied(stateDir, log);
  if (!read) return undefined;
  const { applied } = read;
  const model = buildModel(
    applied.state,
    {
      ...applied.facts,
      unhealthy: applied.unhealthy,
      previousIds: applied.ids,
      previousServiceIds: applied.serviceIds,
      previousStackIds: applied.stackIds,
      retiredIds: applied.retiredIds,
      now: Math.floor(Date.now() / 1000),
    },
    cache,
  );
  const same =
    model.tables.length === Object.keys(applied.tables).length && model.tables.every((t) => applied.tables[t.family] === tableHash(t));
  if (!same) {
    log(`${stateDir.file(APPLIED_FILE)} does not rebuild the tables it recorded (another agent version?); the tables will be rebuilt`);
    return { applied, model: { ...model, tables: [] }, inputsKey: read.inputsKey };
  }
  return { applied, model, inputsKey: read.inputsKey };
}

/** The host's addresses, read at most once per convergence (a balancer may hold 10,000 VIPs). */
function addressesOnce(): () => Promise<IfAddress[]> {
  let read: Promise<IfAddress[]> | undefined;
  return () => (read ??= addresses());
}

const sameRecord = <V>(a: Record<string, V>, b: Record<string, V>) => {
  // A patched model keeps the ids objects of the one before (20,000 keys at 10,000 services).
  if (a === b) return true;
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
};

const stateHashes = new WeakMap<DesiredState, string>();
const factsJson = new WeakMap<Facts, string>();
/** The desired state's hash, once per object (the daemon passes the same one at every resync). */
function stateHash(state: DesiredState): string {
  let s = stateHashes.get(state);
  if (!s) stateHashes.set(state, (s = createHash('sha256').update(JSON.stringify(state)).digest('hex')));
  return s;
}

/** Identifies a model's inputs. */
function inputKey(state: DesiredState, facts: Facts, unhealthy: readonly string[]): string {
  return createHash('sha256')
    .update(stateHash(state))
    .update(factsText(facts))
    .update(JSON.stringify([...unhealthy].sort()))
    .digest('hex');
}

/** The facts as JSON, once per object (a model patch passes the same facts again). */
function factsText(facts: Facts): string {
  let text = factsJson.get(facts);
  if (text === undefined) factsJson.set(facts, (text = JSON.stringify(facts)));
  return text;
}

/** Per object of a table, how many rules or elements the model puts there (undefined: a flow table). */
const expectedCounts = new WeakMap<NftTable, Map<string, number | undefined>>();
function expected(t: NftTable): Map<string, number | undefined> {
  let out = expectedCounts.get(t);
  if (out) return out;
  const contents = tableContents(t);
  out = new Map<string, number | undefined>();
  for (const [name, keys] of contents.sets) out.set(`set ${name}`, keys?.length);
  for (const [name, rules] of contents.chains) out.set(`chain ${name}`, rules);
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
    } else if (count !== undefined && k.count !== undefined && k.count !== count) {
      found.push(`${where}: ${key} holds ${k.count} ${key.startsWith('chain ') ? 'rules' : 'elements'}, expected ${count}`);
      damaged(key);
    } else if (before?.digest !== undefined && k.digest !== undefined && before.digest !== k.digest) {
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
  /** The key of APPLIED_INPUTS_FILE as last read or written, and the objects it was written from. */
  private inputsFile: { key: string; state?: DesiredState; facts?: Facts; changes: Map<string, BalancerService> } | undefined;
  private currentFacts: Facts | undefined;
  /** The host plan whose host steps last ran with none failing (see `hostUnchanged`). */
  private hostStepped: HostPlan | undefined;
  /** Each table's objects as the kernel held them when they last matched the model; cleared by every commit. */
  private readonly baseline = new Map<string, Map<string, KernelObject>>();
  private readonly log: (m: string) => void;
  private readonly now: () => number;
  private readonly cache = new ModelCache();
  /** When every element of the kernel's tables may be read back again (see VERIFY_SHARE_FACTOR). */
  private nextVerifyAt = 0;
  /** Which slice of each set the next probe takes (see renderProbe). */
  private probeRound = 0;
  /** Full model builds, for tests and the benchmark (an idle resync builds none). */
  builds = 0;
  /** New documents converged by patching the changed services' part of the model (see patchDocument). */
  documentPatches = 0;
  /** Convergences that read the host's facts, and that ran the host steps (for tests and the benchmark). */
  factReads = 0;
  hostStepRuns = 0;
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
    if (saved.inputsKey) this.inputsFile = { key: saved.inputsKey, changes: new Map() };
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
   * Compares the kernel's tables with the current model: structure (chains,
   * rules, set declarations) and probed elements always, every element when
   * `readAll` (tables small enough to list whole). Returns what differed; the script that puts changed objects
   * back in place; and the model less the tables that must be rebuilt (what the
   * kernel holds once the repair ran), or undefined when Tula's tables are unknown.
   */
  private async findDrift(readAll: boolean): Promise<{ drift: string[]; repair: string[]; holds: DataplaneModel | undefined }> {
    const held = this.current;
    if (!held || this.options.dryRun) return { drift: [], repair: [], holds: held };
    const drift: string[] = [];
    const repair: string[] = [];
    const keep: NftTable[] = [];
    const ruleset = await readRuleset();
    const round = this.probeRound++;
    for (const t of held.tables) {
      const dynamic = new Set([...t.sets].filter(([, s]) => s.dynamic).map(([n]) => n));
      const structure = ruleset.get(t.family);
      let kernel = structure;
      const size = [...tableContents(t).sets.values()].reduce((n, keys) => n + (keys?.length ?? 0), 0);
      let full = readAll && size <= (this.options.fullReadMaxElements ?? FULL_READ_MAX_ELEMENTS);
      if (structure && full) {
        try {
          kernel = await readElements(t.family, structure, dynamic);
        } catch (err) {
          // Reading every element is the extra check; the structure and the probes below still run.
          this.log(`reading every element of ${t.family} tula back failed (${describeError(err)}); checked by probes instead`);
          full = false;
        }
      }
      const baseline = this.baseline.get(t.family);
      const diff = differences(t, kernel, baseline);
      const { found, damage } = diff;
      let rebuild = diff.rebuild;
      if (kernel && !rebuild && !full) {
        // Sets the kernel lacks are a rebuild already; the others are probed.
        const probe = await probeElements(renderProbe(t, round, { min: PROBE_KEYS, rounds: PROBE_ROUNDS }));
        for (const p of probe.missing) {
          if (damage.sets.includes(p.set)) continue;
          found.push(`${t.family} tula: set ${p.set} lacks elements`);
          damage.sets.push(p.set);
        }
        if (probe.failed) {
          found.push(`${t.family} tula: nft refused the element probe (${probe.failed})`);
          rebuild = true;
        }
      }
      if (kernel && !rebuild && (await tableState(t.family))?.hash !== tableHash(t)) {
        found.push(`${t.family} tula: records another model`);
        if (!damage.sets.includes(STATE_SET)) damage.sets.push(STATE_SET);
      }
      if (found.length === 0) {
        // Digests of elements last read stay the baseline until the next full read or commit.
        const merged = new Map(kernel);
        for (const [key, o] of merged) {
          const b = baseline?.get(key);
          if (o.digest === undefined && b?.digest !== undefined && b.head === o.head)
            merged.set(key, { ...o, digest: b.digest, count: b.count });
        }
        this.baseline.set(t.family, merged);
      } else this.baseline.delete(t.family);
      drift.push(...found);
      if (!rebuild) keep.push(t);
      if (found.length && !rebuild) repair.push(...renderRepair(t, held.version, damage));
    }
    const extra = [...ruleset.keys()].filter((family) => !held.tables.some((t) => t.family === family));
    for (const family of extra) drift.push(`table ${family} tula should not exist`);
    // An unknown previous state makes the sync remove stray tables (and rebuild the rest).
    if (extra.length) return { drift, repair: [], holds: undefined };
    return { drift, repair, holds: keep.length === held.tables.length ? held : { ...held, tables: keep } };
  }

  /** The host facts for `state`: as given, made up (a dry run) or read from the host. */
  private async readFacts(state: DesiredState, hostAddresses: () => Promise<IfAddress[]>): Promise<Facts> {
    if (this.options.facts) return this.options.facts;
    if (this.options.dryRun) return syntheticFacts(state);
    this.factReads++;
    return gatherFacts(state, { probe: true, addresses: hostAddresses });
  }

  /**
   * Converges to `state`. With `healthChanged`, only those services' backends
   * changed health since the last call with the same state: the model is patched
   * instead of rebuilt and the host is not re-read, so the cost does not grow
   * with the number of services. Without `verifyKernel`, a new document that
   * patches (see patchDocument) is likewise converged on the last facts and host
   * steps. With `verifyKernel`, the kernel's tables are compared with the model
   * first and repaired where they differ, and the facts and host steps are redone.
   */
  async converge(
    state: DesiredState,
    unhealthy: readonly string[] = [],
    options: { verifyKernel?: boolean; healthChanged?: ReadonlySet<string> } = {},
  ): Promise<ConvergeResult> {
    await this.adopt();
    let verified: { drift: string[]; repair: string[]; holds: DataplaneModel | undefined } = { drift: [], repair: [], holds: this.current };
    if (options.verifyKernel) {
      const everyElement = performance.now() >= this.nextVerifyAt;
      const began = performance.now();
      verified = await this.findDrift(everyElement);
      const took = performance.now() - began;
      if (everyElement) this.nextVerifyAt = took < VERIFY_ALWAYS_MS ? 0 : performance.now() + VERIFY_SHARE_FACTOR * took;
    }
    const { drift, repair, holds } = verified;
    if (drift.length) this.log(`drift: the kernel does not hold what Tula wrote (${drift.join('; ')}); repairing`);
    const patched =
      options.healthChanged && this.current && !drift.length ? patchModel(state, unhealthy, options.healthChanged, this.cache) : undefined;
    const hostAddresses = addressesOnce();
    const held = this.current ?? this.applied;
    const modelFacts = (facts: Facts): HostFacts => ({
      ...facts,
      unhealthy: [...unhealthy],
      previousIds: held?.ids,
      previousServiceIds: held?.serviceIds,
      previousStackIds: held?.stackIds,
      retiredIds: held?.retiredIds,
      now: Math.floor(this.now() / 1000),
    });
    // A new document that changes a few services: only those are built again (the
    // patch proves it starts from the model the kernel holds, or declines), and the
    // document's key follows from the one it was patched from, so neither costs
    // more than the changed services.
    const from = this.cache.last?.state;
    const mayPatchDocument = !patched && this.current !== undefined && !drift.length && from !== undefined && !stateHashes.has(state);
    // Signalled (not a re-check): the document is first patched on the facts of the last
    // convergence, as a health change is, since reading them again walks every service and
    // every host address. Every re-check (each resync, a one-shot `apply`) reads them anew.
    const signalled = !options.verifyKernel && mayPatchDocument && this.currentFacts !== undefined;
    let documentPatch = signalled ? patchDocument(state, modelFacts(this.currentFacts!), this.cache) : undefined;
    const facts = patched || documentPatch ? this.currentFacts! : await this.readFacts(state, hostAddresses);
    if (!documentPatch && mayPatchDocument) documentPatch = patchDocument(state, modelFacts(facts), this.cache);
    if (documentPatch) {
      // The same contents as `from` (the document sent again) keep its hash, so they are found idle.
      const same = documentPatch.changed.length === 0 && state.version === from!.version;
      const hash = createHash('sha256')
        .update(stateHash(from!))
        .update(`\n${state.version}\n`)
        .update(JSON.stringify(documentPatch.changed));
      stateHashes.set(state, same ? stateHash(from!) : hash.digest('hex'));
    }
    const inputs = inputKey(state, facts, unhealthy);
    // Same inputs: the model is the one the kernel should hold (drift or not), with nothing to build.
    const idle = !patched && this.current !== undefined && inputs === this.currentInputs;
    let model: DataplaneModel;
    if (patched || idle) model = patched ?? this.current!;
    else if (documentPatch) {
      this.documentPatches++;
      model = documentPatch.model;
    } else {
      this.builds++;
      model = buildModel(state, modelFacts(facts), this.cache);
    }
    const sync = renderSync(holds, model);
    // One transaction: put back what was changed, then move on to the model.
    if (repair.length) sync.script = `${repair.join('\n')}\n${sync.script}`;
    const warnings = [...model.warnings];

    // A health patch changes elements only: the host around the tables stays as it is, and host.json
    // is not read. So does a signalled new document patched onto the host plan whose steps last
    // all succeeded (the patch keeps every service's VIP, mode, interface, tunnel and backends,
    // so the plan is that same object): the next re-check runs them whole (5 s in the daemon).
    // A re-check, a built model or a one-shot `apply` runs the host steps: the host may have
    // changed since the last ones (a VIP added as a local address, say).
    const hostUnchanged = patched !== undefined || (signalled && documentPatch !== undefined && model.host === this.hostStepped);
    if (!this.options.dryRun && hostUnchanged) {
      await nftApply(sync.script);
      if (sync.script) this.baseline.clear();
    } else if (!this.options.dryRun) {
      const record = this.options.stateDir.read(HOST_FILE, HostRecord, this.log) ?? emptyHostRecord();
      const recorded = JSON.stringify(record);
      const saveRecord = () => {
        if (JSON.stringify(record) !== recorded) this.options.stateDir.write(HOST_FILE, record);
      };
      this.hostStepRuns++;
      this.hostStepped = undefined;
      let stepFailed = false;
      const step = async (what: string, run: () => Promise<void>) => {
        try {
          await run();
        } catch (err) {
          stepFailed = true;
          warnings.push(`${what}: ${describeError(err)}`);
        }
      };
      try {
        // A re-check of the version already applied (same inputs) only repairs: a
        // failure there is a warning, like every step after a commit.
        if (idle && !sync.script) await step('setting up the host for the rules', () => prepareHost(model.host, record, hostAddresses));
        else await prepareHost(model.host, record, hostAddresses);
        // A rejected transaction throws here and leaves the previous rules in force.
        await nftApply(sync.script);
      } finally {
        saveRecord();
      }
      // Committed: the kernel holds the new version. Nothing below can fail the convergence.
      if (sync.script) this.baseline.clear();
      await step('removing what the previous version used', () => cleanupHost(model.host, record));
      let taken: { vip: string; interface: string }[] = [];
      await step('taking the VIPs on', async () => void (taken = await takeVips(model.host, record, this.stopping.signal, hostAddresses)));
      saveRecord();
      warnings.push(...(await announceAll(taken, this.stopping.signal)));
      if (!stepFailed && !this.stopping.signal.aborted) this.hostStepped = model.host;
    }

    this.current = model;
    this.currentInputs = inputs;
    this.currentFacts = facts;
    this.save(
      inputs,
      state,
      facts,
      unhealthy,
      model,
      warnings,
      drift,
      model === documentPatch?.model ? { from: from!, changed: documentPatch.changed } : undefined,
    );
    return {
      version: state.version,
      changed: sync.script !== '',
      replacedTables: sync.replaced,
      script: sync.script,
      warnings,
      drift,
      model,
    };
  }

  /** Writes the saved state when something in it changed (an idle resync writes nothing). */
  private save(
    inputs: string,
    state: DesiredState,
    facts: Facts,
    unhealthy: readonly string[],
    model: DataplaneModel,
    warnings: string[],
    drift: string[],
    edit: { from: DesiredState; changed: BalancerService[] } | undefined,
  ): void {
    const before = this.applied;
    const tables = Object.fromEntries(model.tables.map((t) => [t.family, tableHash(t)]));
    const drainingSince = this.drainingSince(model, before);
    const drained = (before?.drained ?? []).filter((k) =>
      model.backends.some((b) => backendKey(b.service, b.address) === k && b.condition === 'draining'),
    );
    const unchanged =
      before !== undefined &&
      inputs === this.savedInputs &&
      drift.length === 0 &&
      sameRecord(before.ids, model.ids) &&
      sameRecord(before.serviceIds, model.serviceIds) &&
      sameRecord(before.stackIds, model.stackIds) &&
      JSON.stringify(before.retiredIds) === JSON.stringify(model.retiredIds) &&
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
      stackIds: model.stackIds,
      retiredIds: model.retiredIds,
      tables,
      warnings,
      drainingSince,
      drained,
      ...(drift.length
        ? { lastDrift: { at: new Date(this.now()).toISOString(), what: drift } }
        : before?.lastDrift
          ? { lastDrift: before.lastDrift }
          : {}),
    };
    this.savedInputs = inputs;
    // The document, facts and ids are rewritten only when one of them changed (a new document, new facts).
    const sameIds =
      before !== undefined &&
      sameRecord(before.ids, model.ids) &&
      sameRecord(before.serviceIds, model.serviceIds) &&
      sameRecord(before.stackIds, model.stackIds) &&
      JSON.stringify(before.retiredIds) === JSON.stringify(model.retiredIds);
    const file = this.inputsFile;
    if (!(sameIds && file?.state === state && file.facts === facts)) {
      // A document patched from the one the files hold: its changed services go to a
      // small file of changes on top of them, until these grow past CHANGES_MAX_SHARE.
      const journal =
        sameIds && edit && file?.state === edit.from && file.facts !== undefined && factsText(file.facts) === factsText(facts)
          ? new Map([...file.changes, ...edit.changed.map((c) => [c.name, c] as const)])
          : undefined;
      if (journal && journal.size <= Math.max(CHANGES_MIN, (state.balancer?.services.length ?? 0) / CHANGES_MAX_SHARE)) {
        this.options.stateDir.write(APPLIED_CHANGES_FILE, { inputs: file!.key, version: state.version, services: [...journal.values()] });
        this.inputsFile = { key: file!.key, state, facts, changes: journal };
      } else {
        const key = randomUUID();
        const { state: _s, facts: _f, ids, serviceIds, stackIds, retiredIds } = this.applied;
        this.options.stateDir.write(APPLIED_INPUTS_FILE, { key, state, facts, ids, serviceIds, stackIds, retiredIds });
        this.options.stateDir.remove(APPLIED_CHANGES_FILE);
        this.inputsFile = { key, state, facts, changes: new Map() };
      }
    }
    const { state: _s, facts: _f, ids: _i, serviceIds: _si, stackIds: _st, retiredIds: _r, ...small } = this.applied;
    this.options.stateDir.write(APPLIED_FILE, { ...small, inputs: this.inputsFile!.key });
  }

  private drainingSince(model: DataplaneModel, previous: Applied | undefined): Record<string, number> {
    const out: Record<string, number> = {};
    for (const b of model.backends) {
      if (b.condition !== 'draining') continue;
      const key = backendKey(b.service, b.address);
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
    if (expired.length) {
      const { state: _s, facts: _f, ids: _i, serviceIds: _si, stackIds: _st, retiredIds: _r, ...small } = this.applied;
      this.options.stateDir.write(APPLIED_FILE, this.inputsFile ? { ...small, inputs: this.inputsFile.key } : this.applied);
    }
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
    this.options.stateDir.remove(APPLIED_INPUTS_FILE);
    this.options.stateDir.remove(APPLIED_CHANGES_FILE);
    this.inputsFile = undefined;
    this.current = undefined;
    this.applied = undefined;
    this.hostStepped = undefined;
  }
}
