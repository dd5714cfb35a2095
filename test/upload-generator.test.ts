// The HA capacity benchmark's upload generator must really have `parallel`
// uploads in flight: the benchmark's figures are capacity only if the links,
// not the generator, are the limit (curl -Z alone ran one upload at a time).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { uploadGenerator } from '../bench/upload-generator.ts';

const PARALLEL = 8;
/** How long the server holds an upload's answer while waiting for the others to arrive. */
const HOLD_MS = 3000;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

test('the upload generator keeps its parallel uploads open at once', async () => {
  // The server answers no upload until PARALLEL are open at once (or HOLD_MS
  // passed), so the count does not depend on how fast anything runs.
  let open = 0;
  let mostOpen = 0;
  const held: ServerResponse[] = [];
  const release = () => held.splice(0).forEach((r) => r.end('ok\n'));
  const server = createServer((req, res) => {
    open++;
    mostOpen = Math.max(mostOpen, open);
    res.on('close', () => open--);
    req.resume();
    req.on('end', () => {
      held.push(res);
      if (mostOpen >= PARALLEL) release();
      else setTimeout(release, HOLD_MS);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => server.close());
  const dir = mkdtempSync(join(tmpdir(), 'tula-upload-generator-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const { port } = server.address() as AddressInfo;
  const argv = uploadGenerator({ dir, url: `http://127.0.0.1:${port}/`, bytes: 64 * 1024, parallel: PARALLEL });
  const curl = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanups.push(() => curl.kill('SIGKILL'));
  let answered = 0;
  curl.stdout.on(
    'data',
    (d: Buffer) =>
      (answered += d
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('200')).length),
  );
  // Until PARALLEL are open, or a generator that holds fewer has had three uploads answered (each after HOLD_MS).
  await expect.poll(() => mostOpen >= PARALLEL || answered >= 3, { timeout: 5 * HOLD_MS, interval: 50 }).toBe(true);
  expect(mostOpen).toBe(PARALLEL);
});
