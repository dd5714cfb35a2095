import { expect, it } from 'vitest';
import { startTicker } from './ticker.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('stop resolves only after the tick in flight has finished, and no tick starts after it', async () => {
  let started = 0;
  let finished = 0;
  const stop = startTicker(5, async () => {
    started++;
    await sleep(200);
    finished++;
  });
  while (started === 0) await sleep(5);
  await stop();
  expect(finished).toBe(started);
  await sleep(50);
  expect(started).toBe(1);
});

it('never runs two ticks at once', async () => {
  let inFlight = 0;
  let most = 0;
  const stop = startTicker(1, async () => {
    most = Math.max(most, ++inFlight);
    await sleep(20);
    inFlight--;
  });
  await sleep(150);
  await stop();
  expect(most).toBe(1);
});
