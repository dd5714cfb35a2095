// Models -> nft scripts. Every script is applied with one `nft -f`, which the
// kernel commits as one transaction. The text of rules, declarations, hooks and
// elements comes from syntax.ts; this module writes the commands around it. A
// first sync (or a structural change) replaces Tula's tables whole; later syncs
// touch only what changed, in an order the kernel accepts: create before
// reference, delete after dereference.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { byString } from './hash.ts';
import type { DataplaneModel } from './model.ts';
import { declText, hex, hookText, ruleText, type Hook } from './syntax.ts';
import { fragmentsDigest, TABLE_NAME, type Fragment, type NftChain, type NftSet, type NftTable } from './tables.ts';

const ELEMENTS_PER_COMMAND = 4096;
/** The set in each Tula table whose one element records which model the table holds. */
export const STATE_SET = 'state';

/** The state set's declaration (its one element's comment names the model: see stateComment). */
const STATE_DECL: NftSet = { key: { type: ['mark'] } };

function isMap(set: NftSet): boolean {
  return set.value !== undefined;
}

// Chains and sets are mostly the same objects from one model to the next (the
// model cache reuses them), so their text is written once.
const chainTexts = new WeakMap<NftChain, string[]>();
function rulesOf(c: NftChain): string[] {
  let texts = chainTexts.get(c);
  if (!texts) chainTexts.set(c, (texts = c.rules.map(ruleText)));
  return texts;
}
const declTexts = new WeakMap<NftSet, string>();
function declOf(s: NftSet): string {
  let text = declTexts.get(s);
  if (text === undefined) declTexts.set(s, (text = declText(s)));
  return text;
}
const hookOf = (c: NftChain) => (c.hook ? hookText(c.hook) : undefined);

const byKey = <V>(m: Map<string, V>) => [...m].sort(byString(([k]) => k));

/**
 * Content hash of one table, stored in the table itself so a restarted agent can
 * adopt it. Built from fragment hashes, so it costs little however many services.
 */
export function tableHash(t: NftTable): string {
  const structure = JSON.stringify([
    t.family,
    byKey(t.sets).map(([k, s]) => [k, declOf(s), s.dynamic ?? false]),
    byKey(t.chains).map(([k, c]) => [k, hookOf(c) ?? null, rulesOf(c)]),
  ]);
  return createHash('sha256').update(structure).update(fragmentsDigest(t)).digest('hex');
}

export function stateComment(t: NftTable, version: number): string {
  return `model=${tableHash(t)} version=${version}`;
}

/** The model hash and version a state comment (see stateComment) records; undefined when it is not one. */
export function parseStateComment(comment: string): { hash: string; version: number } | undefined {
  const m = /^model=([0-9a-f]{64}) version=(\d+)$/.exec(comment);
  return m ? { hash: m[1]!, version: Number(m[2]) } : undefined;
}

class Script {
  readonly lines: string[] = [];
  constructor(private readonly family: string) {}
  private get t() {
    return `${this.family} ${TABLE_NAME}`;
  }
  add(line: string) {
    this.lines.push(line);
  }
  set(name: string, s: NftSet) {
    this.add(`add ${isMap(s) ? 'map' : 'set'} ${this.t} ${name} { ${declOf(s)} }`);
  }
  chain(name: string, hook?: Hook) {
    this.add(hook ? `add chain ${this.t} ${name} { ${hookText(hook)} }` : `add chain ${this.t} ${name}`);
  }
  rules(chain: string, c: NftChain | undefined) {
    for (const r of c ? rulesOf(c) : []) this.add(`add rule ${this.t} ${chain} ${r}`);
  }
  elements(set: string, entries: [string, string | null][]) {
    for (let i = 0; i < entries.length; i += ELEMENTS_PER_COMMAND) {
      const part = entries.slice(i, i + ELEMENTS_PER_COMMAND).map(([k, v]) => (v === null ? k : `${k} : ${v}`));
      this.add(`add element ${this.t} ${set} { ${part.join(', ')} }`);
    }
  }
  deleteElements(set: string, keys: string[]) {
    for (let i = 0; i < keys.length; i += ELEMENTS_PER_COMMAND) {
      this.add(`delete element ${this.t} ${set} { ${keys.slice(i, i + ELEMENTS_PER_COMMAND).join(', ')} }`);
    }
  }
  state(comment: string, replace: boolean) {
    if (replace) this.add(`delete element ${this.t} ${STATE_SET} { 0x1 }`);
    this.add(`add element ${this.t} ${STATE_SET} { 0x1 comment "${comment}" }`);
  }
}

/** All elements of each set, across fragments. */
function mergedElements(t: NftTable): Map<string, [string, string | null][]> {
  const out = new Map<string, [string, string | null][]>();
  for (const [, f] of byKey(t.fragments)) {
    for (const [set, m] of f.elements) {
      let list = out.get(set);
      if (!list) out.set(set, (list = []));
      for (const e of m) list.push(e);
    }
  }
  return out;
}

function renderTableFull(t: NftTable, version: number): string[] {
  const s = new Script(t.family);
  // Declaring the table first makes the delete valid whether or not it exists;
  // the whole replacement still commits as one transaction.
  s.add(`add table ${t.family} ${TABLE_NAME}`);
  s.add(`delete table ${t.family} ${TABLE_NAME}`);
  s.add(`add table ${t.family} ${TABLE_NAME}`);
  s.set(STATE_SET, STATE_DECL);
  for (const [name, set] of t.sets) s.set(name, set);
  for (const [name, chain] of t.chains) s.chain(name, chain.hook);
  for (const [name, chain] of t.chains) s.rules(name, chain);
  for (const [set, entries] of mergedElements(t)) s.elements(set, entries);
  s.state(stateComment(t, version), false);
  return s.lines;
}

/** The script that builds Tula's tables from nothing (what `tula-agent render` prints). */
export function renderFull(model: DataplaneModel): string {
  const lines: string[] = [];
  for (const t of model.tables) for (const l of renderTableFull(t, model.version)) lines.push(l);
  return `${lines.join('\n')}\n`;
}

/** Whether `next` can be reached from `prev` by changing elements and rules and adding or removing whole objects. */
function incremental(prev: NftTable, next: NftTable): boolean {
  for (const [name, set] of next.sets) {
    const old = prev.sets.get(name);
    if (old && (declOf(old) !== declOf(set) || (old.dynamic ?? false) !== (set.dynamic ?? false))) return false;
  }
  for (const [name, chain] of next.chains) {
    const old = prev.chains.get(name);
    if (old && hookOf(old) !== hookOf(chain)) return false;
  }
  return true;
}

const EMPTY: Fragment = { hash: '', elements: new Map() };

function renderTableDiff(prev: NftTable, next: NftTable, version: number): string[] {
  const s = new Script(next.family);
  const newSets = [...next.sets].filter(([n]) => !prev.sets.has(n));
  const newChains = [...next.chains].filter(([n]) => !prev.chains.has(n));
  const changedChains = [...next.chains].filter(([n, c]) => {
    const old = prev.chains.get(n);
    if (old === undefined || old === c) return false;
    const [before, after] = [rulesOf(old), rulesOf(c)];
    return before.length !== after.length || before.some((r, i) => r !== after[i]);
  });
  const goneChains = [...prev.chains.keys()].filter((n) => !next.chains.has(n));
  const goneSets = [...prev.sets.keys()].filter((n) => !next.sets.has(n));

  // Element changes, fragment by fragment; unchanged fragments cost nothing.
  const removals = new Map<string, string[]>();
  const additions = new Map<string, [string, string | null][]>();
  const push = <T>(m: Map<string, T[]>, k: string, v: T) => {
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(v);
  };
  // A table patched from `prev` names the fragments that may differ.
  const keys = next.patch && next.patch.from === prev.id ? next.patch.keys : new Set([...prev.fragments.keys(), ...next.fragments.keys()]);
  for (const key of keys) {
    const a = prev.fragments.get(key) ?? EMPTY;
    const b = next.fragments.get(key) ?? EMPTY;
    if (a === b || a.hash === b.hash) continue;
    for (const set of new Set([...a.elements.keys(), ...b.elements.keys()])) {
      const before = a.elements.get(set) ?? new Map<string, string | null>();
      const after = b.elements.get(set) ?? new Map<string, string | null>();
      // Elements of a set that goes away leave with it.
      const setStays = next.sets.has(set) && prev.sets.has(set);
      for (const [k, v] of before) {
        const now = after.get(k);
        if (setStays && (now === undefined || now !== v)) push(removals, set, k);
      }
      if (!next.sets.has(set)) continue;
      for (const [k, v] of after) {
        const was = before.get(k);
        if (!setStays || was === undefined || was !== v) push(additions, set, [k, v]);
      }
    }
  }

  // 1. New objects, chains still empty.
  for (const [n, set] of newSets) s.set(n, set);
  for (const [n, c] of newChains) s.chain(n, c.hook);
  // 2. Elements that go away or change value, in sets that stay.
  for (const [set, keys] of removals) s.deleteElements(set, keys);
  // 3. Rules of new and changed chains.
  for (const [n, c] of changedChains) {
    s.add(`flush chain ${next.family} ${TABLE_NAME} ${n}`);
    s.rules(n, c);
  }
  for (const [n, c] of newChains) s.rules(n, c);
  // 4. New and changed elements (they may name the chains made above).
  for (const [set, entries] of additions) s.elements(set, entries);
  // 5. Objects nothing refers to any more: first the rules of chains that go,
  // then sets that go (their verdicts name chains), then the chains themselves.
  for (const n of goneChains) s.add(`flush chain ${next.family} ${TABLE_NAME} ${n}`);
  for (const n of goneSets) s.add(`delete ${isMap(prev.sets.get(n)!) ? 'map' : 'set'} ${next.family} ${TABLE_NAME} ${n}`);
  for (const n of goneChains) s.add(`delete chain ${next.family} ${TABLE_NAME} ${n}`);
  if (s.lines.length === 0) return [];
  s.state(stateComment(next, version), true);
  return s.lines;
}

/** Objects of a table changed outside Tula (see the agent's drift check). */
export interface TableDamage {
  /** Tula's sets and maps whose elements differ: refilled. */
  sets: string[];
  /** Tula's chains whose rules differ: refilled. */
  chains: string[];
  /** Objects in Tula's table that are not Tula's: removed. */
  foreign: { kind: 'set' | 'map' | 'chain'; name: string }[];
}

/**
 * Puts back what was changed in a table that otherwise holds `t`, in one
 * transaction, leaving the rest as it is: flow tables keep their flows and
 * untouched sets their counters. Foreign rules go first (with their chain's
 * flush), so nothing refers to a foreign object when it is deleted.
 */
export function renderRepair(t: NftTable, version: number, damage: TableDamage): string[] {
  const s = new Script(t.family);
  const table = `${t.family} ${TABLE_NAME}`;
  const foreignChains = damage.foreign.filter((f) => f.kind === 'chain');
  for (const n of damage.chains) s.add(`flush chain ${table} ${n}`);
  for (const f of foreignChains) s.add(`flush chain ${table} ${f.name}`);
  for (const f of damage.foreign) if (f.kind !== 'chain') s.add(`delete ${f.kind} ${table} ${f.name}`);
  for (const f of foreignChains) s.add(`delete chain ${table} ${f.name}`);
  const sets = damage.sets.filter((n) => n !== STATE_SET && t.sets.has(n));
  for (const n of sets) s.add(`flush ${isMap(t.sets.get(n)!) ? 'map' : 'set'} ${table} ${n}`);
  for (const n of damage.chains) s.rules(n, t.chains.get(n));
  const merged = mergedElements(t);
  for (const n of sets) s.elements(n, merged.get(n) ?? []);
  s.add(`flush set ${table} ${STATE_SET}`);
  s.state(stateComment(t, version), false);
  return s.lines;
}

/** What a table's objects hold, for comparing with the kernel: element keys of each static set, rules of each chain. */
export interface TableContents {
  /** Set or map name -> its element keys in the model; undefined for a flow table (its elements are the kernel's). */
  sets: Map<string, string[] | undefined>;
  /** Chain name -> how many rules. */
  chains: Map<string, number>;
}

const contentsOf = new WeakMap<NftTable, TableContents>();

export function tableContents(t: NftTable): TableContents {
  let out = contentsOf.get(t);
  if (out) return out;
  const merged = mergedElements(t);
  out = { sets: new Map([[STATE_SET, ['0x1']]]), chains: new Map() };
  for (const [name, s] of t.sets) out.sets.set(name, s.dynamic ? undefined : [...new Set((merged.get(name) ?? []).map(([k]) => k))]);
  for (const [name, c] of t.chains) out.chains.set(name, c.rules.length);
  contentsOf.set(t, out);
  return out;
}

/**
 * A script for `nft -c` (checked by the kernel, never committed) that deletes
 * a slice of each of the table's static sets' element keys (at least `min`,
 * enough to cover the set in `rounds` rounds), the `round`-th slice, so
 * successive rounds cover every key. The kernel refuses a delete of a key it
 * does not hold, and names the command: a flushed or emptied set shows at once,
 * a single missing element within `rounds` rounds. Its cost is the keys probed,
 * not the size of the sets (listing a set reads all of it).
 */
export function renderProbe(t: NftTable, round: number, slice: { min: number; rounds: number }): string[] {
  const lines: string[] = [];
  for (const [name, keys] of tableContents(t).sets) {
    if (!keys?.length) continue;
    const perSet = Math.max(slice.min, Math.ceil(keys.length / slice.rounds));
    const from = (round * perSet) % keys.length;
    const probed =
      keys.length <= perSet ? keys : [...keys.slice(from, from + perSet), ...keys.slice(0, Math.max(0, from + perSet - keys.length))];
    lines.push(`delete element ${t.family} ${TABLE_NAME} ${name} { ${probed.join(', ')} }`);
  }
  return lines;
}

/** The set a probe line names (see renderProbe), from the command nft quotes in its error. */
export function probedSet(line: string): { family: 'netdev' | 'inet'; set: string } | undefined {
  const m = /^delete element (netdev|inet) (\S+) (\S+) \{/.exec(line);
  return m && m[2] === TABLE_NAME ? { family: m[1] as 'netdev' | 'inet', set: m[3]! } : undefined;
}

/** Deletes elements of a set (flow-table pins, for instance) in one transaction. */
export function renderDeleteElements(family: 'netdev' | 'inet', set: string, keys: string[]): string {
  const s = new Script(family);
  s.deleteElements(set, keys);
  return `${s.lines.join('\n')}\n`;
}

/** Removes a Tula table. */
export function renderDeleteTable(family: 'netdev' | 'inet'): string {
  return `delete table ${family} ${TABLE_NAME}\n`;
}

/** An element key from nft's JSON listing, written the way the renderer writes it. */
export function elementKeyText(val: unknown): string | undefined {
  if (typeof val === 'string') return val;
  if (typeof val === 'number') return hex(val);
  const concat = z.object({ concat: z.array(z.union([z.string(), z.number()])) }).safeParse(val);
  // Ports and hashes inside a concatenation are plain decimal numbers.
  if (concat.success) return concat.data.concat.map(String).join(' . ');
  return undefined;
}

export interface SyncScript {
  /** The nft script; empty when the kernel already holds `next`. */
  script: string;
  /** Tables rebuilt whole (counters and flow tables of those tables start over). */
  replaced: string[];
}

/**
 * The one transaction that takes the kernel from `prev` (what it holds, or
 * undefined when unknown) to `next`.
 */
export function renderSync(prev: DataplaneModel | undefined, next: DataplaneModel): SyncScript {
  const lines: string[] = [];
  const replaced: string[] = [];
  for (const t of next.tables) {
    const old = prev?.tables.find((p) => p.family === t.family);
    const part = old && incremental(old, t) ? renderTableDiff(old, t, next.version) : renderTableFull(t, next.version);
    if (!(old && incremental(old, t))) replaced.push(`${t.family} ${TABLE_NAME}`);
    for (const l of part) lines.push(l);
  }
  for (const family of ['netdev', 'inet'] as const) {
    if (next.tables.some((t) => t.family === family)) continue;
    // Unknown previous state: remove a table left by an earlier run, if any.
    if (!prev) lines.push(`add table ${family} ${TABLE_NAME}`, `delete table ${family} ${TABLE_NAME}`);
    else if (prev.tables.some((t) => t.family === family)) lines.push(`delete table ${family} ${TABLE_NAME}`);
  }
  return { script: lines.length ? `${lines.join('\n')}\n` : '', replaced };
}
