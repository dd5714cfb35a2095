// "Add a node" shows a line that fetches /install.sh and the agent from this
// panel. A panel started without `npm run build:agent-binary` has neither to
// serve (the script it serves fails, /download/SHA256SUMS answers 503), so the
// organisation summary says so and the dialog tells the person what to run.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Database } from '@tula/db';
import { agentDownloadsAvailable } from '@tula/gateway';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memberCaller, useTestApiDatabase } from './support/caller.ts';

let db: Database;
const dir = mkdtempSync(join(tmpdir(), 'tula-release-'));
const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

it('the release directory counts only with the install script and an agent file in it', async () => {
  expect(await agentDownloadsAvailable(join(dir, 'missing'))).toBe(false);
  mkdirSync(join(dir, 'empty'));
  expect(await agentDownloadsAvailable(join(dir, 'empty'))).toBe(false);
  const release = join(dir, 'release');
  mkdirSync(release);
  writeFileSync(join(release, 'install.sh'), '#!/bin/sh\n');
  expect(await agentDownloadsAvailable(release)).toBe(false);
  writeFileSync(join(release, 'tula-agent-linux-x64'), 'agent');
  expect(await agentDownloadsAvailable(release)).toBe(true);
});

it('org.summary says whether agent downloads are available', async () => {
  const none = join(dir, 'none');
  const { api } = await memberCaller(db, { name: 'No Build', services: { agentDownloads: () => agentDownloadsAvailable(none) } });
  expect((await api.org.summary()).agentDownloads).toBe(false);
  const built = join(dir, 'built');
  mkdirSync(built);
  writeFileSync(join(built, 'install.sh'), '#!/bin/sh\n');
  writeFileSync(join(built, 'tula-agent-linux-x64'), 'agent');
  const { api: withBuild } = await memberCaller(db, { name: 'Built', services: { agentDownloads: () => agentDownloadsAvailable(built) } });
  expect((await withBuild.org.summary()).agentDownloads).toBe(true);
  // An in-process caller with no panel behind it does not know.
  const { api: unknown } = await memberCaller(db, { name: 'Unknown' });
  expect((await unknown.org.summary()).agentDownloads).toBe(null);
});
