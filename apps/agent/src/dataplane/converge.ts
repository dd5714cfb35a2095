// The convergence engine, shared by `apply`, `run` and server mode: desired state
// + host facts + health -> model -> one nft transaction and the host changes
// around it. Level-triggered: it compares with what the kernel holds, so applying
// twice changes nothing, and a restart adopts matching kernel state.
import { canonicalIp, type DesiredState } from '@tula/protocol';
import {
  buildModel,
  ModelCache,
  modelFromJson,
  patchModel,
  ModelJson,
  modelToJson,
  renderSync,
  tableHash,
  type DataplaneModel,
  type HostFacts,
} from '@tula/nft';
import { z } from 'zod';
import { gatherFacts } from '../host/facts.ts';
import { deletePins, deleteTulaTables, nftApply, tableState, tulaTablesPresent } from '../kernel/nft.ts';
import type { StateDir } from '../state-dir.ts';
import { announceAll, cleanupHost, emptyHostRecord, HostRecord, prepareHost, resetHost, takeVips } from './host.ts';

const Applied = z.object({
  model: ModelJson,
  appliedAt: z.string(),
  /** `${service}|${address}` -> when the agent first saw the backend draining (ms). */
  drainingSince: z.record(z.string(), z.number()).default({}),
  /** Draining backends whose pinned flows were already released. */
  drained: z.array(z.string()).default([]),
});
type Applied = z.infer<typeof Applied>;

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
  model: DataplaneModel;
}

export interface ConvergerOptions {
  stateDir: StateDir;
  /** Compute and render everything, touch nothing in the kernel (protocol tests, previews). */
  dryRun?: boolean;
  log?: (message: string) => void;
  now?: () => number;
  /** Use these facts instead of reading the host (tests, troubleshooting). */
  facts?: Omit<HostFacts, 'unhealthy' | 'previousIds'>;
}

/** Facts for a dry run: every interface named exists and every backend MAC is known. */
export function syntheticFacts(state: DesiredState): Omit<HostFacts, 'unhealthy' | 'previousIds'> {
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

export class Converger {
  private current: DataplaneModel | undefined;
  private adopted = false;
  private applied: Applied | undefined;
  private readonly log: (m: string) => void;
  private readonly now: () => number;
  private readonly cache = new ModelCache();
  /** Aborted when the agent stops: work after the commit (announcing VIPs) ends at once. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: ConvergerOptions) {
    this.log = options.log ?? (() => undefined);
    this.now = options.now ?? Date.now;
  }

  get model(): DataplaneModel | undefined {
    return this.current;
  }

  /** Loads the last applied model if the kernel still holds exactly it. */
  private async adopt(): Promise<void> {
    if (this.adopted) return;
    this.adopted = true;
    const saved = this.options.stateDir.read(APPLIED_FILE, Applied, this.log);
    if (!saved) return;
    this.applied = saved;
    if (this.options.dryRun) {
      this.current = modelFromJson(saved.model);
      return;
    }
    const model = modelFromJson(saved.model);
    const present = await tulaTablesPresent();
    for (const t of model.tables) {
      const state = await tableState(t.family);
      if (!state || state.hash !== tableHash(t)) {
        this.log(`kernel table ${t.family} tula differs from the last applied model; it will be rebuilt`);
        return;
      }
    }
    if (present.length !== model.tables.length) return;
    this.current = model;
  }

  /** Throws unless every Tula table in the kernel records exactly `model`. */
  private async verifyHolds(model: DataplaneModel): Promise<void> {
    for (const t of model.tables) {
      const state = await tableState(t.family);
      if (!state || state.hash !== tableHash(t)) throw new Error(`after applying, table ${t.family} tula does not hold the model`);
    }
  }

  /** Forgets the in-memory model when the kernel no longer holds it (someone changed Tula's tables). */
  private async verifyKernel(): Promise<void> {
    if (!this.current || this.options.dryRun) return;
    for (const t of this.current.tables) {
      const state = await tableState(t.family);
      if (!state || state.hash !== tableHash(t)) {
        this.log(`kernel table ${t.family} tula was changed outside Tula; rebuilding it`);
        this.current = undefined;
        return;
      }
    }
  }

  /**
   * Converges to `state`. With `healthChanged`, only those services' backends
   * changed health since the last call with the same state: the model is patched
   * instead of rebuilt and the host is not re-read, so the cost does not grow
   * with the number of services.
   */
  async converge(
    state: DesiredState,
    unhealthy: readonly string[] = [],
    options: { verifyKernel?: boolean; healthChanged?: ReadonlySet<string> } = {},
  ): Promise<ConvergeResult> {
    await this.adopt();
    if (options.verifyKernel) await this.verifyKernel();
    const patched = options.healthChanged && this.current ? patchModel(state, unhealthy, options.healthChanged, this.cache) : undefined;
    const model =
      patched ??
      buildModel(
        state,
        {
          ...(this.options.facts ?? (this.options.dryRun ? syntheticFacts(state) : await gatherFacts(state, { probe: true }))),
          unhealthy: [...unhealthy],
          previousIds: (this.current ?? this.applied?.model)?.ids,
          previousServiceIds: (this.current ?? this.applied?.model)?.serviceIds,
        },
        this.cache,
      );
    const sync = renderSync(this.current, model);
    const record = this.options.stateDir.read(HOST_FILE, HostRecord, this.log) ?? emptyHostRecord();
    const warnings = [...model.warnings];

    if (!this.options.dryRun) {
      try {
        // A patch changes elements only: the host around the tables stays as it is.
        if (!patched) await prepareHost(model.host, record);
        // A rejected transaction throws here and leaves the previous rules in force.
        await nftApply(sync.script);
        await this.verifyHolds(model);
        await this.releaseFlows(this.current, model);
        if (!patched) await cleanupHost(model.host, record);
      } finally {
        this.options.stateDir.write(HOST_FILE, record);
      }
      const taken = patched ? [] : await takeVips(model.host, record, this.stopping.signal);
      this.options.stateDir.write(HOST_FILE, record);
      warnings.push(...(await announceAll(taken, this.stopping.signal)));
    }

    const before = this.applied;
    this.current = model;
    this.applied = {
      model: modelToJson(model),
      appliedAt: new Date(this.now()).toISOString(),
      drainingSince: this.drainingSince(model, before),
      drained: (before?.drained ?? []).filter((k) => model.backends.some((b) => `${b.service}|${b.address}` === k && b.condition === 'draining')),
    };
    this.options.stateDir.write(APPLIED_FILE, this.applied);
    return { version: state.version, changed: sync.script !== '', replacedTables: sync.replaced, script: sync.script, warnings, model };
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

  /**
   * Forgets pinned flows of backends that stopped taking traffic (down, disabled,
   * unresolved, removed), so those flows re-hash now rather than return to the
   * backend when it comes back.
   */
  private async releaseFlows(prev: DataplaneModel | undefined, next: DataplaneModel): Promise<void> {
    if (!prev) return;
    const takesTraffic = (c: string) => c === 'usable' || c === 'draining';
    for (const b of prev.backends) {
      if (!takesTraffic(b.condition)) continue;
      const now = next.backends.find((n) => n.service === b.service && n.address === b.address);
      if (now && takesTraffic(now.condition)) continue;
      if (!next.tables.some((t) => t.family === 'netdev' && t.sets.has(b.flowMap))) continue;
      const n = await deletePins('netdev', b.flowMap, b.mark);
      if (n > 0) this.log(`released ${n} flows of ${b.service} backend ${b.address}`);
    }
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
