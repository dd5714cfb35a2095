// The model's nftables tables as data: declarations and rules of the fixed
// sets and chains, and elements grouped by owner (a service, a VIP) into
// fragments, each with a content hash, so a change costs what changed.
import { createHash } from 'node:crypto';
import { byString } from './hash.ts';
import type { Hook, Rule, SetDecl } from './syntax.ts';

export const TABLE_NAME = 'tula';

/** A set or map; a `dynamic` one's elements are the kernel's (flow tables): never rendered or diffed. */
export type NftSet = SetDecl;

export interface NftChain {
  /** A base chain's hook; absent for a chain reached by jump or goto. */
  hook?: Hook;
  rules: Rule[];
}

/** The elements one owner (a service, a VIP) puts into the table's sets. */
export interface Fragment {
  /** Content hash: equal hashes mean equal elements. */
  hash: string;
  /** Set name -> element key -> value (null in a set), as nft reads them (see syntax.ts). */
  elements: Map<string, Map<string, string | null>>;
}

export interface NftTable {
  family: 'netdev' | 'inet';
  sets: Map<string, NftSet>;
  chains: Map<string, NftChain>;
  fragments: Map<string, Fragment>;
  /** Identity of this table value, so a patch can name the table it started from. */
  id: number;
  /** Set on a table patched from table `from`: only the `keys` fragments may differ. */
  patch?: { from: number; keys: ReadonlySet<string> };
}

let nextTableId = 1;
export const newTableId = () => nextTableId++;

export function newTable(family: 'netdev' | 'inet'): NftTable {
  return { family, sets: new Map(), chains: new Map(), fragments: new Map(), id: newTableId() };
}

export function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

const digests = new WeakMap<Fragment, { key: string; digest: Buffer }>();
export const combinedDigests = new WeakMap<NftTable, Buffer>();

export function fragmentDigest(key: string, f: Fragment): Buffer {
  let d = digests.get(f);
  if (!d || d.key !== key) digests.set(f, (d = { key, digest: createHash('sha256').update(`${key}\t${f.hash}`).digest() }));
  return d.digest;
}

export function xorInto(target: Buffer, d: Buffer) {
  for (let i = 0; i < 32; i++) target[i]! ^= d[i]!;
}

/** XOR of a table's fragment digests: independent of order, cheap to update for a patch. */
export function fragmentsDigest(t: NftTable): Buffer {
  let combined = combinedDigests.get(t);
  if (!combined) {
    combined = Buffer.alloc(32);
    for (const [k, f] of t.fragments) xorInto(combined, fragmentDigest(k, f));
    combinedDigests.set(t, combined);
  }
  return combined;
}

export function fragmentOf(elements: Map<string, Map<string, string | null>>): Fragment {
  const canonical = [...elements]
    .filter(([, m]) => m.size > 0)
    .sort(byString(([set]) => set))
    .map(([set, m]) => [set, [...m]]);
  return { hash: sha(JSON.stringify(canonical)), elements };
}

export function addElement(elements: Map<string, Map<string, string | null>>, set: string, key: string, value: string | null) {
  let m = elements.get(set);
  if (!m) elements.set(set, (m = new Map()));
  m.set(key, value);
}
