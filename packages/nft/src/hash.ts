// Small deterministic hashes. Every balancer must compute the same values from the
// same input, so these are fixed algorithms, never runtime-seeded.

/** FNV-1a, 32 bit, over the UTF-8 bytes of `text`, starting from `basis`. */
export function fnv1a32(text: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    // Code units above 0x7f are folded byte by byte; identifiers here are ASCII anyway.
    do {
      h ^= c & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      c >>>= 8;
    } while (c > 0);
  }
  return h >>> 0;
}

/** A 32-bit integer mix (lowbias32), for spreading small integers. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A comparator by a string key in code-unit order: the one order the model and
 * the renderer use, independent of locale, so every balancer sorts alike.
 */
export function byString<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
