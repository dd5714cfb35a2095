import { afterEach, describe, expect, it, vi } from 'vitest';
import { msToNextTick, SecondTicker, TICK_OFFSET_MS } from './second-ticker.ts';

afterEach(() => vi.useRealTimers());

describe('second ticker', () => {
  it('waits until just after the next second begins', () => {
    expect(msToNextTick(10_000)).toBe(TICK_OFFSET_MS);
    expect(msToNextTick(10_000 + TICK_OFFSET_MS)).toBe(1000);
    expect(msToNextTick(10_999)).toBe(1 + TICK_OFFSET_MS);
    expect(msToNextTick(10_400)).toBe(600 + TICK_OFFSET_MS);
  });

  it('reads once in every second even when each tick runs late (a loaded host)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    vi.setSystemTime(1_000_000_400);
    const reads: number[] = [];
    const ticker = new SecondTicker(() => {
      reads.push(Date.now());
      // Each tick's work (and the event loop before it) holds the clock for 30 ms, as under load.
      vi.setSystemTime(Date.now() + 30);
    });
    vi.advanceTimersByTime(60_000);
    ticker.stop();
    const seconds = reads.map((t) => Math.floor(t / 1000));
    // One read in each second, each near its start: no second without a read, none with two.
    expect(seconds).toEqual(Array.from({ length: seconds.length }, (_, i) => seconds[0]! + i));
    expect(seconds.length).toBeGreaterThanOrEqual(58);
    expect(reads.every((t) => t % 1000 < 100)).toBe(true);
  });

  it('does not read twice in one second when its timer fires a little early by the wall clock', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    vi.setSystemTime(1_000_000_400);
    const reads: number[] = [];
    const ticker = new SecondTicker(() => {
      reads.push(Date.now());
      // The wall clock steps back 3 ms against the timers' clock (timers run on a monotonic clock with coarse ms).
      vi.setSystemTime(Date.now() - 3);
    });
    vi.advanceTimersByTime(20_000);
    ticker.stop();
    const seconds = reads.map((t) => Math.floor(t / 1000));
    expect(new Set(seconds).size).toBe(seconds.length);
    expect(seconds.length).toBeGreaterThanOrEqual(19);
  });

  it('makes up no missed seconds after a pause: the next tick is in the next second', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    vi.setSystemTime(1_000_000_400);
    const reads: number[] = [];
    const ticker = new SecondTicker(() => reads.push(Date.now()));
    vi.advanceTimersByTime(1000);
    // SIGSTOP for 35 s: the wall clock jumps, no timer ran meanwhile.
    vi.setSystemTime(Date.now() + 35_000);
    vi.advanceTimersByTime(2000);
    ticker.stop();
    expect(reads.map((t) => t - 1_000_000_000)).toEqual([1005, 37_005, 38_005]);
  });
});
