// The nft language, in one place. The model describes rules, set declarations
// and base-chain hooks as data (the small vocabulary below: only what Tula
// uses); this module writes them, and the text of set elements, as nft reads
// them. render.ts wraps that text in the commands of a transaction.
import { ipFamily } from '@tula/protocol';

/** A constant. */
export type Value =
  /** Decimal: ports, offsets, protocol numbers, 0. */
  | { kind: 'int'; n: number }
  /** Hexadecimal, `width` digits (8 unless said: a mark, the one hex format of the data plane). */
  | { kind: 'hex'; n: number; width?: number }
  /** A word nft knows (ipv4, tcp, echo-request, local), an address or a MAC. */
  | { kind: 'name'; name: string }
  /** Bits of a flags field: `syn`, or `(syn | ack)`. */
  | { kind: 'flags'; names: string[] }
  /** An anonymous set: `{ tcp, udp }`. */
  | { kind: 'anon'; names: string[] }
  /** A named set or map of the table. */
  | { kind: 'set'; name: string };

/** What a rule reads or computes. */
export type Expr =
  | Value
  | { kind: 'meta'; key: 'mark' | 'l4proto' | 'nfproto' }
  | { kind: 'ct'; key: 'mark' }
  | { kind: 'payload'; proto: 'th' | 'tcp' | 'udp' | 'ether'; field: 'saddr' | 'daddr' | 'sport' | 'dport' | 'flags' }
  /** An address of the IPv4 or IPv6 header. */
  | { kind: 'ip'; family: 4 | 6; field: 'saddr' | 'daddr' }
  | { kind: 'icmp-type'; family: 4 | 6 }
  /** Raw payload from the transport header: `@th,<offset>,<bits>`. */
  | { kind: 'raw'; offset: number; bits: number }
  | { kind: 'mss' }
  | { kind: 'fib-daddr-type' }
  | { kind: 'numgen'; mod: number }
  | { kind: 'jhash'; of: Expr; mod: number; seed: number }
  | { kind: 'concat'; parts: Expr[] }
  /**
   * `of and mask [or set]`. nft reads `&` and `and` alike; the rules written so
   * far spell it both ways, and each table's hash (recorded in the kernel, so a
   * restarted or upgraded agent adopts the table instead of rebuilding it) covers
   * the text, so a rule keeps its spelling (`symbol`: `&`).
   */
  | { kind: 'and'; of: Expr; mask: Value; or?: Value; symbol?: boolean }
  /** The value `of` maps to in a named map. */
  | { kind: 'lookup'; of: Expr; map: string };

/** One step of a rule: a match (the rule goes on only if it holds) or a statement. */
export type Statement =
  /** `left [op] right`; without op, equality (or membership, for a set). */
  | { kind: 'match'; left: Expr; op?: '==' | '!=' | '>'; right: Value }
  /** An IPv4 or IPv6 packet (in the inet family). */
  | { kind: 'family'; family: 4 | 6 }
  /** `target set value`. */
  | { kind: 'assign'; target: Expr; value: Expr }
  | { kind: 'vmap'; of: Expr; map: string }
  /** Adds or refreshes an element of a dynamic set, with its own timeout. */
  | { kind: 'update'; set: string; key: Expr; timeoutS: number; value: Expr }
  | { kind: 'delete'; set: string; key: Expr; value: Expr }
  | { kind: 'fwd'; device: string }
  | { kind: 'dnat'; family: 4 | 6; to: Expr }
  | { kind: 'verdict'; verdict: 'accept' | 'drop' }
  | { kind: 'goto'; chain: string }
  | { kind: 'masquerade' }
  | { kind: 'redirect' }
  | { kind: 'notrack' };

export type Rule = readonly Statement[];

/** A set's key or a map's value type: by the expression it holds (`typeof`) or by type names. */
export type SetType = { typeof: Expr } | { type: string[] };

export interface SetDecl {
  key: SetType;
  /** A map's value; absent for a set. */
  value?: SetType | 'verdict';
  counter?: boolean;
  interval?: boolean;
  size?: number;
  /** Filled by the kernel from the packet path (flow tables), each element with its own timeout. */
  dynamic?: boolean;
}

export interface Hook {
  type: 'filter' | 'nat';
  hook: 'ingress' | 'egress' | 'prerouting' | 'postrouting' | 'output';
  device?: string;
  priority: number | 'raw' | 'mangle' | 'dstnat' | 'srcnat';
}

// --- Building blocks, so the model reads as what it means.
export const int = (n: number): Value => ({ kind: 'int', n });
export const hexValue = (n: number, width?: number): Value => (width === undefined ? { kind: 'hex', n } : { kind: 'hex', n, width });
export const name = (word: string): Value => ({ kind: 'name', name: word });
export const setRef = (set: string): Value => ({ kind: 'set', name: set });
export const ipAddress = (family: 4 | 6, field: 'saddr' | 'daddr'): Expr => ({ kind: 'ip', family, field });
export const MARK: Expr = { kind: 'meta', key: 'mark' };
export const CT_MARK: Expr = { kind: 'ct', key: 'mark' };
export const L4PROTO: Expr = { kind: 'meta', key: 'l4proto' };
type Payload = Extract<Expr, { kind: 'payload' }>;
export const payload = (proto: Payload['proto'], field: Payload['field']): Expr => ({ kind: 'payload', proto, field });
export const match = (left: Expr, right: Value, op?: '==' | '!=' | '>'): Statement =>
  op ? { kind: 'match', left, op, right } : { kind: 'match', left, right };
export const assign = (target: Expr, value: Expr): Statement => ({ kind: 'assign', target, value });
export const goto = (chain: string): Statement => ({ kind: 'goto', chain });
export const ACCEPT: Statement = { kind: 'verdict', verdict: 'accept' };
export const DROP: Statement = { kind: 'verdict', verdict: 'drop' };
/** `of & mask` (see the `and` expression for the two spellings). */
export const masked = (of: Expr, mask: number, symbol = false): Expr => ({
  kind: 'and',
  of,
  mask: hexValue(mask),
  ...(symbol && { symbol }),
});

// --- Text.

function valueText(v: Value): string {
  switch (v.kind) {
    case 'int':
      return String(v.n);
    case 'hex':
      return v.width === undefined ? hex(v.n) : `0x${v.n.toString(16).padStart(v.width, '0')}`;
    case 'name':
      return v.name;
    case 'flags':
      return v.names.length === 1 ? v.names[0]! : `(${v.names.join(' | ')})`;
    case 'anon':
      return `{ ${v.names.join(', ')} }`;
    case 'set':
      return `@${v.name}`;
  }
}

export function exprText(e: Expr): string {
  switch (e.kind) {
    case 'meta':
      return `meta ${e.key}`;
    case 'ct':
      return `ct ${e.key}`;
    case 'payload':
      return `${e.proto} ${e.field}`;
    case 'ip':
      return `${e.family === 4 ? 'ip' : 'ip6'} ${e.field}`;
    case 'icmp-type':
      return `${e.family === 4 ? 'icmp' : 'icmpv6'} type`;
    case 'raw':
      return `@th,${e.offset},${e.bits}`;
    case 'mss':
      return 'tcp option maxseg size';
    case 'fib-daddr-type':
      return 'fib daddr type';
    case 'numgen':
      return `numgen inc mod ${e.mod}`;
    case 'jhash':
      return `jhash ${exprText(e.of)} mod ${e.mod} seed ${hex(e.seed)}`;
    case 'concat':
      return e.parts.map(exprText).join(' . ');
    case 'and':
      return `${exprText(e.of)} ${e.symbol ? '&' : 'and'} ${valueText(e.mask)}${e.or ? ` or ${valueText(e.or)}` : ''}`;
    case 'lookup':
      return `${exprText(e.of)} map @${e.map}`;
    default:
      return valueText(e);
  }
}

function statementText(s: Statement): string {
  switch (s.kind) {
    case 'match':
      return `${exprText(s.left)}${s.op ? ` ${s.op}` : ''} ${valueText(s.right)}`;
    case 'family':
      return `meta nfproto ${s.family === 4 ? 'ipv4' : 'ipv6'}`;
    case 'assign':
      return `${exprText(s.target)} set ${exprText(s.value)}`;
    case 'vmap':
      return `${exprText(s.of)} vmap @${s.map}`;
    case 'update':
      return `update @${s.set} { ${exprText(s.key)} timeout ${s.timeoutS}s : ${exprText(s.value)} }`;
    case 'delete':
      return `delete @${s.set} { ${exprText(s.key)} : ${exprText(s.value)} }`;
    case 'fwd':
      return `fwd to "${s.device}"`;
    case 'dnat':
      return `dnat ${s.family === 4 ? 'ip' : 'ip6'} to ${exprText(s.to)}`;
    case 'verdict':
      return s.verdict;
    case 'goto':
      return `goto ${s.chain}`;
    case 'masquerade':
    case 'redirect':
    case 'notrack':
      return s.kind;
  }
}

export const ruleText = (r: Rule): string => r.map(statementText).join(' ');

const typeText = (t: SetType) => ('typeof' in t ? `typeof ${exprText(t.typeof)}` : `type ${t.type.join(' . ')}`);
/** After the colon the keyword is left out: `typeof meta mark : ether daddr`, `type mark : ipv4_addr`. */
const mapValueText = (t: SetType | 'verdict') => (t === 'verdict' ? t : 'typeof' in t ? exprText(t.typeof) : t.type.join(' . '));

/** Everything between a set's braces except its elements, e.g. "typeof meta mark : verdict;". */
export function declText(d: SetDecl): string {
  let out = typeText(d.key);
  if (d.value) out += ` : ${mapValueText(d.value)}`;
  out += ';';
  if (d.size !== undefined) out += ` size ${d.size};`;
  if (d.counter) out += ' counter;';
  if (d.interval) out += ' flags interval;';
  if (d.dynamic) out += ' flags dynamic,timeout;';
  return out;
}

export const hookText = (h: Hook): string =>
  `type ${h.type} hook ${h.hook}${h.device === undefined ? '' : ` device "${h.device}"`} priority ${h.priority}; policy accept;`;

/** A mark, or any 32-bit value, as nft reads it: the one hex format of the data plane. */
export const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

// --- Set elements. The model stores each element's key and value as the text
// nft reads (the identity the renderer diffs, probes and reads counters by),
// written by these.

/** Parts of a concatenated key or value: `a . b . c`. */
export function concat(...parts: (string | number)[]): string {
  // Appended rather than joined: the Maglev map alone takes millions of these (join cost ~3x as much).
  let out = `${parts[0]}`;
  for (let i = 1; i < parts.length; i++) out += ` . ${parts[i]}`;
  return out;
}
/** An interval element: `lo-hi`. */
export const interval = (lo: number, hi: number): string => `${lo}-${hi}`;
/** A verdict map's value. */
export const gotoElement = (chain: string): string => `goto ${chain}`;

/** An address as the integer a raw payload expression reads (nft types raw payload as integers). */
export function addressInteger(address: string): string {
  if (ipFamily(address) === 4)
    return `0x${address
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('')}`;
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `0x${groups.map((g) => g.padStart(4, '0')).join('')}`;
}
