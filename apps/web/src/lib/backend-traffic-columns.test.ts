import { describe, expect, it } from 'vitest';
import { backendTrafficColumns } from './backend-traffic-columns.ts';

describe('backendTrafficColumns', () => {
  it('says the window of every column, so a 5-minute share is not read as "now"', () => {
    const head = backendTrafficColumns({ nowSeconds: 15, windowSeconds: 300 });
    expect(head).toEqual([
      'Backend',
      'New flows now (last 15 s)',
      'New flows (last 5 min)',
      'New flows by balancer (last 5 min)',
      'Share of return path (last 5 min)',
      'Return path (average, last 5 min)',
    ]);
    // Every column but the address names its window.
    expect(head.slice(1).every((h) => /\(.*last \d+ (s|min)\)$/.test(h))).toBe(true);
  });

  it('gives a window under a minute in seconds', () => {
    expect(backendTrafficColumns({ nowSeconds: 10, windowSeconds: 90 })[4]).toBe('Share of return path (last 90 s)');
  });
});
