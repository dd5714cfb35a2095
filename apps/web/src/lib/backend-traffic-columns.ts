// The "Traffic per backend" card's column heads, each with the window it covers:
// "now" is the last few seconds, the rest are the last minutes, so a backend that
// stopped reads 0 % in the first column at once while the others fade.

const span = (s: number) => (s >= 60 && s % 60 === 0 ? `${s / 60} min` : `${s} s`);

export function backendTrafficColumns(w: { nowSeconds: number; windowSeconds: number }): string[] {
  const last = `last ${span(w.windowSeconds)}`;
  return [
    'Backend',
    `New flows now (last ${span(w.nowSeconds)})`,
    `New flows (${last})`,
    `New flows by balancer (${last})`,
    `Share of return path (${last})`,
    `Return path (average, ${last})`,
  ];
}
