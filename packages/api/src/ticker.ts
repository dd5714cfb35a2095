// A panel process's periodic loop (rollouts, alerts): one tick at a time, and a
// stop that waits for the tick in flight, so a shutdown closes the database only
// after it (closing under it failed the tick's transaction and logged a false error).

/** Runs `tick` every `intervalMs`, skipping a beat while the previous one runs; the returned stop resolves once no tick runs. */
export function startTicker(intervalMs: number, tick: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = tick().finally(() => (running = undefined));
  }, intervalMs);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
