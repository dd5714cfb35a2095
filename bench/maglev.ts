// Benchmark: building a Maglev lookup table in TypeScript, M = 65,537 and
// N = 1,000 backends (the paper's C++ reference: 1.8 ms). Run: npm run bench:maglev
import { maglevOverlay, maglevPopulate } from '@tula/nft';

const M = 65_537;
const N = 1_000;
const backends = Array.from({ length: N }, (_, i) => ({ key: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, weight: 1 }));

const times: number[] = [];
let table: Int32Array = new Int32Array(0);
for (let round = 0; round < 30; round++) {
  const t = performance.now();
  table = maglevPopulate(backends, M);
  times.push(performance.now() - t);
}
const counts = new Array<number>(N).fill(0);
for (const owner of table) counts[owner]!++;
const overlay: number[] = [];
const usable = backends.map((_, i) => i !== 7);
for (let round = 0; round < 30; round++) {
  const t = performance.now();
  maglevOverlay(table, backends, usable);
  overlay.push(performance.now() - t);
}
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const p = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!.toFixed(2);
console.log(`| M | N | populate median | populate p90 | entries per backend (min-max) | failover overlay median |`);
console.log(`| --- | --- | --- | --- | --- | --- |`);
console.log(
  `| ${M} | ${N} | ${p(times, 0.5)} ms | ${p(times, 0.9)} ms | ${Math.min(...counts)}-${Math.max(...counts)} | ${p(overlay, 0.5)} ms |`,
);
