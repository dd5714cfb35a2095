// Promise: bad input is refused clearly. Random inputs (fast-check) go to every
// tRPC procedure over HTTP and random frames to the agent socket; the answer is
// always a 4xx with a message (or a closed socket with a reason), never a 5xx or
// a crash, and the panel serves on afterwards with its data intact.
import { appRouter } from '@tula/api';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { CloseCode } from '@tula/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { apiClient, signUp, type Api } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';

let db: TestDatabase;
let panel: PanelProcess;
let api: Api;
let cookie: string;

beforeAll(async () => {
  db = await createTestDatabase();
  panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 'z'.repeat(40), TULA_ENROLLMENTS_PER_MINUTE: '1000' });
  cookie = await signUp(panel.url, 'fuzz@example.com');
  api = apiClient(panel.url, cookie);
  await api.services.create.mutate({
    name: 'keep',
    vip: '10.60.0.1',
    ports: '80',
    protocol: 'tcp',
    mode: 'l2',
    backends: [{ address: '10.60.0.2' }],
    draft: true,
  });
}, 120_000);
afterAll(async () => {
  await panel?.stop();
  await db?.drop();
});

/** Inputs that are wrong in every way: random JSON, near-misses of the real shapes, huge values. */
const inputs = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.record(
    {
      id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      name: fc.string({ maxLength: 300 }),
      vip: fc.string(),
      ports: fc.string(),
      backends: fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
    },
    { requiredKeys: [] },
  ),
  fc.string({ minLength: 70_000, maxLength: 70_001 }).map((s) => ({ id: s })),
);

describe('bad input', () => {
  it('every tRPC procedure answers random input with a 4xx and a message, never a 5xx', async () => {
    const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).filter(
      ([, p]) => p._def.type !== 'subscription',
    );
    expect(procedures.length).toBeGreaterThan(20);
    const seen = new Map<number, number>();
    for (const [path, procedure] of procedures) {
      await fc.assert(
        fc.asyncProperty(inputs, async (input) => {
          const body = JSON.stringify({ json: input });
          const res =
            procedure._def.type === 'query'
              ? await fetch(`${panel.url}/api/trpc/${path}?input=${encodeURIComponent(body)}`, { headers: { cookie, origin: panel.url } })
              : await fetch(`${panel.url}/api/trpc/${path}`, {
                  method: 'POST',
                  headers: { cookie, origin: panel.url, 'content-type': 'application/json' },
                  body,
                });
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          const text = await res.text();
          // 200: the input happened to be valid (a query with optional input); anything else must be a refusal with a message.
          if (res.status !== 200) {
            expect(res.status, `${path} answered ${res.status} to ${body.slice(0, 200)}: ${text.slice(0, 300)}`).toBeGreaterThanOrEqual(
              400,
            );
            expect(res.status, `${path} answered ${res.status} to ${body.slice(0, 200)}: ${text.slice(0, 300)}`).toBeLessThan(500);
            // Oversized requests are refused by the HTTP layer before tRPC (413, 414, 431), without a JSON body.
            if (![413, 414, 431].includes(res.status))
              expect((JSON.parse(text) as { error: { json: { message: string } } }).error.json.message.length).toBeGreaterThan(0);
          }
        }),
        { numRuns: 15 },
      );
    }
    console.log(`fuzz: tRPC answers by status: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect((await fetch(`${panel.url}/api/health`)).status).toBe(200);
    expect((await api.services.list.query()).map((s) => s.name)).toContain('keep');
  }, 480_000);

  it('random frames on the agent socket close it with a reason; the gateway serves on', async () => {
    const { token } = await api.tokens.create.mutate({ maxUses: 1 });
    const res = await fetch(`${panel.url}/api/agent/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, name: 'fuzzed', hostname: 'h' }),
    });
    const { credential } = (await res.json()) as { credential: string };
    const frame = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      fc.constantFrom('ack', 'nack', 'counters', 'hello').map((type) => JSON.stringify({ type, version: -1, protocol: 99 })),
    );
    const codes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
        const ws = new WebSocket(`${panel.url.replace('http', 'ws')}/agent`, { headers: { authorization: `Bearer ${credential}` } });
        const closed = new Promise<{ code: number; reason: string }>((r) =>
          ws.once('close', (code, reason) => r({ code, reason: reason.toString() })),
        );
        await new Promise((resolve, reject) => {
          ws.once('open', resolve);
          ws.once('error', reject);
        });
        for (const f of frames) ws.send(f);
        const { code, reason } = await closed;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        expect([CloseCode.badMessage, 1009]).toContain(code);
        if (code === CloseCode.badMessage) expect(reason.length).toBeGreaterThan(0);
        // Stay under the gateway's per-address connection limit.
        await new Promise((r) => setTimeout(r, 100));
      }),
      { numRuns: 40 },
    );
    console.log(`fuzz: agent socket close codes: ${JSON.stringify(Object.fromEntries(codes))}`);
    expect((await fetch(`${panel.url}/api/health`)).status).toBe(200);
  }, 120_000);
});
