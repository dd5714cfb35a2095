// nftables: scripts go in through `nft -f -` (one transaction each); state comes
// out of `nft -j` and is validated before use.
import { createHash } from 'node:crypto';
import { hex, STATE_SET, TABLE_NAME } from '@tula/nft';
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

async function nftJson(args: string[]): Promise<Record<string, unknown>[] | undefined> {
  const r = await run(['nft', '-j', ...args], { allowFailure: true });
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
  const m = comment && /^model=([0-9a-f]{64}) version=(\d+)$/.exec(comment);
  return m ? { hash: m[1]!, version: Number(m[2]) } : undefined;
}

export async function tulaTablesPresent(): Promise<('netdev' | 'inet')[]> {
  const items = (await nftJson(['list', 'tables'])) ?? [];
  const Table = z.object({ table: z.object({ family: z.string(), name: z.string() }) });
  return items
    .map((i) => Table.safeParse(i))
    .filter((r) => r.success && r.data.table.name === TABLE_NAME && (r.data.table.family === 'netdev' || r.data.table.family === 'inet'))
    .map((r) => r.data!.table.family as 'netdev' | 'inet');
}

export interface CounterValue {
  packets: number;
  bytes: number;
}

/** An element key from nft's JSON, written the way the renderer writes it. */
function keyText(val: unknown): string | undefined {
  if (typeof val === 'string') return val;
  if (typeof val === 'number') return hex(val);
  const concat = z.object({ concat: z.array(z.union([z.string(), z.number()])) }).safeParse(val);
  // Ports and hashes inside a concatenation are plain decimal numbers.
  if (concat.success) return concat.data.concat.map(String).join(' . ');
  return undefined;
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
      const key = el.success ? keyText(el.data.elem.val) : undefined;
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
      const key = keyText(wrapped.success ? wrapped.data.elem.val : pair.data[0]);
      if (key !== undefined) keys.push(key);
    }
  }
  if (keys.length === 0) return 0;
  await nftApply(`delete element ${family} ${TABLE_NAME} ${map} { ${keys.join(', ')} }\n`);
  return keys.length;
}

export async function deleteTulaTables(): Promise<void> {
  for (const family of await tulaTablesPresent()) await nftApply(`delete table ${family} ${TABLE_NAME}\n`);
}

/** One object of a Tula table as the kernel holds it: how many rules or elements, and a digest of them. */
export interface KernelObject {
  kind: 'set' | 'map' | 'chain';
  /** The declaration (type, flags, hook...), normalised JSON. */
  head: string;
  /** Rules of a chain, elements of a set or map; undefined for a flow table (its elements are the kernel's). */
  count: number | undefined;
  /** Of the declaration and the rules or elements. */
  digest: string;
}

/** Strips what the kernel changes by itself (handles, counter values, expiry) from nft's JSON. */
function normalised(value: unknown): unknown {
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
const Named = z.object({ name: z.string() });
const RuleOf = z.object({ chain: z.string() });

/**
 * Tula's table as the kernel holds it: `set NAME` (maps too) and `chain NAME` ->
 * contents. Elements of `dynamic` sets (flow tables) are not read: they are the
 * kernel's, and there may be a million. Undefined when the table is absent.
 */
export async function readTable(family: 'netdev' | 'inet', dynamic: ReadonlySet<string>): Promise<Map<string, KernelObject> | undefined> {
  // -t (terse) lists the table without set elements; those are read set by set below.
  const items = await nftJson(['-t', 'list', 'table', family, TABLE_NAME]);
  if (!items) return undefined;
  const out = new Map<string, KernelObject>();
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
      const listed = (await nftJson(['list', kind, family, TABLE_NAME, name])) ?? [];
      const elems = listed.flatMap((i) => {
        const r = SetListing.safeParse(i);
        return (r.success ? (r.data.set?.elem ?? r.data.map?.elem) : undefined) ?? [];
      });
      // Listing order is the kernel's hash order: compare as a sorted multiset.
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
