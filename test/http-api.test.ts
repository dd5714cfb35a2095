// The documented HTTP API driven the way an operator's script would: curl and an
// API token only, against the real panel process. A person makes the token in
// the panel (here through its API with a session); everything after that is curl.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, signUp } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

const run = promisify(execFile);
let db: TestDatabase;
let panel: PanelProcess;
const tokens = { admin: '', viewer: '' };

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 'h'.repeat(40) });
  const person = apiClient(panel.url, await signUp(panel.url, 'operator@example.com'));
  tokens.admin = (await person.apiTokens.create.mutate({ name: 'ci pipeline', role: 'admin', expiresInDays: 30 })).token;
  tokens.viewer = (await person.apiTokens.create.mutate({ name: 'dashboard', role: 'viewer' })).token;
}, 120_000);
afterAll(async () => {
  await panel?.stop();
  await db?.drop();
});

/** One curl call: status and parsed body (argument array, no shell). */
async function curl(
  method: string,
  path: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; json: ReturnType<typeof JSON.parse> }> {
  const args = ['-sS', '-X', method, '-w', '\n%{http_code}', `${panel.url}${path}`];
  if (token) args.push('-H', `Authorization: Bearer ${token}`);
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
  const { stdout } = await run('curl', args);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), json: JSON.parse(stdout.slice(0, cut)) };
}

it('documents the API at /api/openapi.json, generated from the procedures', async () => {
  const { status, json } = await curl('GET', '/api/openapi.json');
  expect(status).toBe(200);
  expect(json.openapi).toBe('3.1.0');
  expect(Object.keys(json.paths)).toEqual(
    expect.arrayContaining([
      '/services',
      '/services/{id}',
      '/services/{serviceId}/backends/{address}/state',
      '/services/{serviceId}/backends/{address}/weight',
      '/nodes',
      '/api-tokens',
      '/api-tokens/{id}',
      '/audit',
    ]),
  );
  // The request body is the service input schema (its backend weight limits come from the zod schema).
  const body = json.paths['/services'].post.requestBody.content['application/json'].schema;
  expect(body.properties.backends.items.properties.weight).toMatchObject({ minimum: 1, maximum: 1000 });
});

it('creates a service, drains a backend, changes a weight and reads the audit with curl and a token only', async () => {
  const created = await curl('POST', '/api/v1/services', tokens.admin, {
    name: 'web',
    vip: '10.60.0.1',
    ports: '443',
    protocol: 'tcp',
    mode: 'l2',
    backends: [{ address: '10.60.0.11' }, { address: '10.60.0.12' }],
    draft: true,
  });
  expect(created.status).toBe(200);
  const id = created.json.id as string;
  expect((await curl('PUT', `/api/v1/services/${id}/backends/10.60.0.11/state`, tokens.admin, { state: 'draining' })).status).toBe(200);
  expect((await curl('PUT', `/api/v1/services/${id}/backends/10.60.0.12/weight`, tokens.admin, { weight: 7 })).status).toBe(200);
  const service = await curl('GET', `/api/v1/services/${id}`, tokens.viewer);
  expect(service.json.backends.map((b: { address: string; state: string; weight: number }) => [b.address, b.state, b.weight])).toEqual([
    ['10.60.0.11', 'draining', 1],
    ['10.60.0.12', 'active', 7],
  ]);
  const audit = await curl('GET', '/api/v1/audit?limit=3', tokens.viewer);
  expect(audit.status).toBe(200);
  expect(
    audit.json.items.map((e: { action: string; actorLabel: string; targetId: string }) => [
      e.action,
      e.actorLabel.replace(/\(tula_[^)]*\)/, '(…)'),
      e.targetId,
    ]),
  ).toEqual([
    ['backend.weight', 'API token "ci pipeline" (…)', id],
    ['backend.drain', 'API token "ci pipeline" (…)', id],
    ['service.create', 'API token "ci pipeline" (…)', id],
  ]);
  const listed = await curl('GET', '/api/v1/api-tokens', tokens.viewer);
  expect(listed.json.find((t: { name: string }) => t.name === 'ci pipeline').lastUsedAt).toEqual(expect.any(String));
});

it('answers with clear errors: no token, a viewer changing, bad input, unknown ids', async () => {
  const none = await curl('GET', '/api/v1/services');
  expect([none.status, none.json.error.message]).toEqual([401, expect.stringContaining('Authorization: Bearer')]);
  const viewer = await curl('POST', '/api/v1/services', tokens.viewer, {
    name: 'x',
    vip: '10.60.0.2',
    ports: '80',
    protocol: 'tcp',
    mode: 'l2',
    backends: [],
  });
  expect([viewer.status, viewer.json.error.message]).toEqual([403, expect.stringContaining('viewer role')]);
  const bad = await curl('PUT', '/api/v1/services/nope/backends/10.60.0.11/weight', tokens.admin, { weight: 0 });
  expect([bad.status, Object.keys(bad.json.error.fields)]).toEqual([400, ['weight']]);
  expect((await curl('PUT', '/api/v1/services/nope/backends/10.60.0.11/state', tokens.admin, { state: 'disabled' })).status).toBe(404);
  const forged = await curl('GET', '/api/v1/services', 'tula_not-a-real-token');
  expect([forged.status, forged.json.error.message]).toEqual([401, expect.stringContaining('not valid')]);
});
