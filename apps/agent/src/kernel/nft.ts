// nftables: scripts go in through `nft -f -` (one transaction each); state comes
// out of `nft -j` and is validated before use.
import { createHash } from 'node:crypto';
import { elementKeyText, parseStateComment, probedSet, renderDeleteElements, renderDeleteTable, STATE_SET, TABLE_NAME } from '@tula/nft';
import { z } from 'zod';
import { CommandError, run } from '../exec.ts';

export class NftError extends Error {
  override name = 'NftError';
}

/** Applies a script as one transaction. On rejection the kernel keeps what it had; the error quotes nft. */
export async function nftApply(script: string): Promise<void> {
  if (!script) return;
  try {
    await run(['nft', '-f', '-'], { input: script });
  } catch (err) {
    if (err instanceof CommandError) throw new NftError(`nft rejected the transaction: ${err.result.stderr.trim()}`);
    throw err;
  }
}

/** Checks a script without applying it (`nft -c`). */
export async function nftCheck(script: string): Promise<void> {
  try {
    await run(['nft', '-c', '-f', '-'], { input: script });
  } catch (err) {
    if (err instanceof CommandError) throw new NftError(err.result.stderr.trim());
    throw err;
  }
}

const Listing = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

async function nftJson(args: string[], timeoutMs?: number): Promise<Record<string, unknown>[] | undefined> {
  const r = await run(['nft', '-j', ...args], { allowFailure: true, ...(timeoutMs ? { timeoutMs } : {}) });
  if (r.code !== 0) {
    if (/No such file or directory|does not exist/.test(r.stderr)) return undefined;
    throw new NftError(`nft -j ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  return Listing.parse(JSON.parse(r.stdout)).nftables;
}

const StateSet = z.object({
  set: z.object({ elem: z.array(z.object({ elem: z.object({ val: z.number(), comment: z.string() }) })).optional() }),
});

/** The model hash recorded in a Tula table, or undefined when the table is absent. */
export async function tableState(family: 'netdev' | 'inet'): Promise<{ hash: string; version: number } | undefined> {
  const items = await nftJson(['list', 'set', family, TABLE_NAME, STATE_SET]);
  const set = items?.map((i) => StateSet.safeParse(i)).find((r) => r.success)?.data;
  const comment = set?.set.elem?.[0]?.elem.comment;
  return comment === undefined ? undefined : parseStateComment(comment);
}

/** Families holding a Tula table (from the listing without elements: nft 1.0.6's `list tables` reads every element). */
export async function tulaTablesPresent(): Promise<('netdev' | 'inet')[]> {
  return [...(await readRuleset()).keys()];
}

export interface CounterValue {
  packets: number;
  bytes: number;
}

const SetListing = z.object({
  set: z.object({ elem: z.array(z.unknown()).optional() }).optional(),
  map: z.object({ elem: z.array(z.unknown()).optional() }).optional(),
});
const CountedElem = z.object({ elem: z.object({ val: z.unknown(), counter: z.object({ packets: z.number(), bytes: z.number() }) }) });

/** Per-element counters of a counter-flagged set (keys as the renderer writes them). */
export async function readSetCounters(family: 'netdev' | 'inet', set: string): Promise<Map<string, CounterValue>> {
  const items = (await nftJson(['list', 'set', family, TABLE_NAME, set])) ?? [];
  const out = new Map<string, CounterValue>();
  for (const i of items) {
    const r = SetListing.safeParse(i);
    for (const e of (r.success ? r.data.set?.elem : undefined) ?? []) {
      const el = CountedElem.safeParse(e);
      const key = el.success ? elementKeyText(el.data.elem.val) : undefined;
      if (el.success && key !== undefined) out.set(key, { packets: el.data.elem.counter.packets, bytes: el.data.elem.counter.bytes });
    }
  }
  return out;
}

/** Deletes the flow-table entries (pinned flows) whose value is `mark`. Returns how many. */
export async function deletePins(family: 'netdev' | 'inet', map: string, mark: number): Promise<number> {
  const items = (await nftJson(['list', 'map', family, TABLE_NAME, map])) ?? [];
  const keys: string[] = [];
  for (const i of items) {
    const r = SetListing.safeParse(i);
    for (const e of (r.success ? r.data.map?.elem : undefined) ?? []) {
      // [{ elem: { val: <key>, expires } } | <key>, <value>]
      const pair = z.tuple([z.unknown(), z.number()]).safeParse(e);
      if (!pair.success || pair.data[1] >>> 0 !== mark >>> 0) continue;
      const wrapped = z.object({ elem: z.object({ val: z.unknown() }) }).safeParse(pair.data[0]);
      const key = elementKeyText(wrapped.success ? wrapped.data.elem.val : pair.data[0]);
      if (key !== undefined) keys.push(key);
    }
  }
  if (keys.length === 0) return 0;
  await nftApply(renderDeleteElements(family, map, keys));
  return keys.length;
}

export async function deleteTulaTables(): Promise<void> {
  for (const family of await tulaTablesPresent()) await nftApply(renderDeleteTable(family));
}

/** One object of a Tula table as the kernel holds it: how many rules or elements, and a digest of them. */
export interface KernelObject {
  kind: 'set' | 'map' | 'chain';
  /** The declaration (type, flags, hook...), normalised JSON. */
  head: string;
  /** Rules of a chain, elements of a set or map; undefined when not read (a flow table's elements are the kernel's). */
  count: number | undefined;
  /** Of the declaration and the rules or elements; undefined when the elements were not read. */
  digest: string | undefined;
}

/** Strips what the kernel changes by itself (handles, counter values, expiry) from nft's JSON. */
export function normalised(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalised);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'handle' || k === 'expires') continue;
    out[k] = k === 'counter' ? null : normalised(v);
  }
  return out;
}

const digestOf = (parts: string[]) => createHash('sha256').update(parts.join('\n')).digest('hex');
const Placed = z.object({ family: z.string(), table: z.string() });
const Named = z.object({ name: z.string() });
const RuleOf = z.object({ chain: z.string() });
const TableItem = z.object({ family: z.string(), name: z.string() });

/**
 * Tula's tables as the kernel holds them, without set elements: family ->
 * `set NAME` (maps too) and `chain NAME` -> declaration, and rules for chains.
 * One `nft -j -t list ruleset`: with nft 1.0.6 that is the listing that reads no
 * set elements (`list table -t`, `list chain` and `get element` read them all,
 * and the Maglev map alone holds some 200 elements per backend).
 */
export async function readRuleset(): Promise<Map<'netdev' | 'inet', Map<string, KernelObject>>> {
  const items = (await nftJson(['-t', 'list', 'ruleset'])) ?? [];
  const out = new Map<'netdev' | 'inet', Map<string, KernelObject>>();
  const rules = new Map<string, string[]>();
  const ours = (family: string, table: string) => table === TABLE_NAME && (family === 'netdev' || family === 'inet');
  for (const item of items) {
    const [kind, body] = Object.entries(item)[0] ?? [];
    if (kind === 'table') {
      const t = TableItem.safeParse(body);
      if (t.success && ours(t.data.family, t.data.name)) out.set(t.data.family as 'netdev' | 'inet', new Map());
      continue;
    }
    if (kind !== 'rule' && kind !== 'set' && kind !== 'map' && kind !== 'chain') continue;
    const at = Placed.safeParse(body);
    if (!at.success || !ours(at.data.family, at.data.table)) continue;
    const family = at.data.family as 'netdev' | 'inet';
    let objects = out.get(family);
    if (!objects) out.set(family, (objects = new Map()));
    if (kind === 'rule') {
      const key = `${family} ${RuleOf.parse(body).chain}`;
      const list = rules.get(key) ?? [];
      list.push(JSON.stringify(normalised(body)));
      rules.set(key, list);
      continue;
    }
    const name = Named.parse(body).name;
    const head = JSON.stringify(normalised(body));
    if (kind === 'chain') objects.set(`chain ${name}`, { kind, head, count: 0, digest: '' });
    else objects.set(`set ${name}`, { kind, head, count: undefined, digest: undefined });
  }
  for (const [family, objects] of out) {
    for (const [key, o] of objects) {
      if (o.kind !== 'chain') continue;
      const list = rules.get(`${family} ${key.slice('chain '.length)}`) ?? [];
      objects.set(key, { ...o, count: list.length, digest: digestOf([o.head, ...list]) });
    }
  }
  return out;
}

const FULL_READ_TIMEOUT_MS = 15 * 60_000;

/**
 * Adds the elements of the static sets to a table read by readRuleset: counts
 * and digests. One listing per set, each costing as much as the set is large.
 * Flow tables (`dynamic`) are not read: their elements are the kernel's, and
 * there may be a million.
 */
export async function readElements(
  family: 'netdev' | 'inet',
  objects: Map<string, KernelObject>,
  dynamic: ReadonlySet<string>,
): Promise<Map<string, KernelObject>> {
  const out = new Map(objects);
  for (const [key, o] of objects) {
    if (o.kind === 'chain') continue;
    const name = key.slice('set '.length);
    if (dynamic.has(name)) {
      out.set(key, { ...o, digest: digestOf([o.head]) });
      continue;
    }
    // Minutes for a Maglev map of millions of elements (see docs/benchmarks.md).
    const listed = (await nftJson(['list', o.kind, family, TABLE_NAME, name], FULL_READ_TIMEOUT_MS)) ?? [];
    const elems = listed.flatMap((i) => {
      const r = SetListing.safeParse(i);
      return (r.success ? (r.data.set?.elem ?? r.data.map?.elem) : undefined) ?? [];
    });
    // Listing order is the kernel's hash order: compare as a sorted multiset.
    const texts = elems.map((e) => JSON.stringify(normalised(e))).sort();
    out.set(key, { ...o, count: elems.length, digest: digestOf([o.head, ...texts]) });
  }
  return out;
}

/**
 * Runs a probe script (see renderProbe) with `nft -c`: nothing is committed.
 * Returns the sets, by family, that lack a probed element, or why nft refused
 * the probe otherwise.
 */
export async function probeElements(lines: string[]): Promise<{ missing: { family: 'netdev' | 'inet'; set: string }[]; failed?: string }> {
  if (lines.length === 0) return { missing: [] };
  const r = await run(['nft', '-c', '-f', '-'], { input: `${lines.join('\n')}\n`, allowFailure: true });
  if (r.code === 0) return { missing: [] };
  const found = new Map<string, { family: 'netdev' | 'inet'; set: string }>();
  const errors = r.stderr.split('\n');
  errors.forEach((line, i) => {
    // nft quotes the refused command on the line after its error.
    if (!/Error: Could not process rule: No such file or directory/.test(line)) return;
    const p = probedSet(errors[i + 1] ?? '');
    if (p) found.set(`${p.family} ${p.set}`, p);
  });
  // Refused for another reason (a set declared with another type?): the caller rebuilds.
  if (found.size === 0) return { missing: [], failed: r.stderr.trim().split('\n')[0] ?? `nft exited ${r.code}` };
  return { missing: [...found.values()] };
}
