// Calls a function just after each wall-clock second begins. A setInterval of
// 1000 ms drifts (each tick is late by the event loop's delay, and the delays add
// up), so on a loaded host its reads wander across second boundaries: one
// second gets no read and the next gets two seconds' worth. Each tick here is
// scheduled afresh from the clock, so a late tick does not make the next late.

/** How long after a second begins the counters are read (the read itself takes a few milliseconds). */
export const TICK_OFFSET_MS = 5;

/** Milliseconds from `now` until the next tick: TICK_OFFSET_MS into the next second (never the current one twice). */
export function msToNextTick(now: number, offsetMs = TICK_OFFSET_MS): number {
  const into = now % 1000;
  return into < offsetMs ? offsetMs - into : 1000 - into + offsetMs;
}

export class SecondTicker {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** When the next tick is due (ms since epoch). */
  private due: number;

  constructor(private readonly tick: () => void) {
    this.due = Date.now() + msToNextTick(Date.now());
    this.wait();
  }

  private wait() {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.due - Date.now()));
  }

  private fire() {
    const now = Date.now();
    // Timers may fire a millisecond or two early by the wall clock: ticking then would read twice in one second.
    if (now < this.due) return this.wait();
    // The next second after this one (seconds missed while the process was paused are not made up: the next report covers them).
    this.due = Math.floor(now / 1000) * 1000 + 1000 + TICK_OFFSET_MS;
    this.wait();
    this.tick();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
