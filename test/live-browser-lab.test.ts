// Faults this test found: a stream cut before its first sample resumed afresh
// (packages/api/src/routers/live/counters.ts: a new stream's first event is now its starting
// cursor), and the service page replaced itself with an error note when its 3 s refresh
// failed during the cut, unmounting the chart: its subscription then started afresh
// without a cursor once the panel answered again (apps/web/src/app/app/services/[id]/page.tsx
// now keeps what it loaded). Either way the page missed what was stored while it was cut off.
//
// The live chart is exact in a real browser: Chromium (Playwright) shows a
// service's page while real agents in a namespace lab carry downloads through
// the service, and the page's live stream (`live.counters`, tRPC over SSE) is
// cut mid-run: every connection between the browser and the panel is dropped,
// and new ones are refused for 8 seconds. Over the run, the bytes the page
// received in its stream's frames (read from Chromium's own network events over
// the DevTools protocol: nothing in the panel is there for the test) equal the
// kernel's nft counters on the balancer (inbound) and on the backends (return
// path), and the rows the panel stored for the same window.
//
// The window starts and ends quiet (health checks go to the backends' own
// addresses, not through the VIP), so every side has read the kernel after the
// last packet and must agree exactly.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { chromium, type Browser } from '@playwright/test';
import { createTestDatabase, type TestDatabase } from '@tula/db/testing';
import { createLab, LAB, type Lab } from '@tula/netlab';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiClient, enrollLab, labWebService, signUp, waitFor, type AgentProcess, type Api } from './support/control.ts';
import { startPanel, type PanelProcess } from './support/panel.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/support/chromium.ts';

const unavailable =
  process.getuid?.() !== 0 ? 'needs root for network namespaces and nftables (run the suite as root, as CI does)' : undefined;

/**
 * A TCP relay between the browser and the panel that can cut every connection
 * and refuse new ones for a while: a dropped socket, as a flaky network drops it.
 */
class Relay {
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  drops = 0;
  readonly server: Server;
  constructor(targetPort: number) {
    this.server = createServer((client) => {
      if (this.refusing) return void client.destroy();
      const upstream = connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }
  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as { port: number }).port;
  }
  /** Cuts every open connection and refuses new ones for `ms`. */
  async cut(ms: number): Promise<void> {
    this.refusing = true;
    this.drops += this.sockets.size;
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => setTimeout(r, ms));
    this.refusing = false;
  }
  close() {
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }
}

// One SSE data frame of live.counters: superjson's form of the samples.
const Frame = z.object({
  json: z.array(
    z.object({ kind: z.string(), seriesKey: z.string(), packets: z.number(), bytes: z.number(), newFlows: z.number() }).loose(),
  ),
});

// `nft -j list set`: the set's elements, each with its counter.
const NftSet = z.object({
  nftables: z.array(
    z.object({
      set: z.object({ elem: z.array(z.object({ elem: z.object({ counter: z.object({ bytes: z.number() }) }) })).optional() }).optional(),
    }),
  ),
});

describe.skipIf(unavailable)(`the live chart in Chromium${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let db: TestDatabase;
  let panel: PanelProcess;
  let lab: Lab;
  let api: Api;
  let cookie: string;
  let agents = new Map<string, AgentProcess>();
  let nodeIds = new Map<string, string>();
  let browser: Browser;
  let relay: Relay;
  let sql: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase();
    panel = await startPanel({ DATABASE_URL: db.url, TULA_AUTH_SECRET: 'l'.repeat(40), HOST: '0.0.0.0' });
    cookie = await signUp(panel.url, `live-browser-${Date.now()}@example.com`);
    api = apiClient(panel.url, cookie);
    lab = await createLab({ prefix: 'ct', managementNet: 68 });
    ({ agents, nodeIds } = await enrollLab(api, lab, panel.port));
    relay = new Relay(panel.port);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    relay?.close();
    await sql?.end();
    for (const a of agents.values()) await a.stop();
    await lab?.destroy();
    await panel?.stop();
    await db?.drop();
  });

  /** Bytes of every element of a counter set in a namespace's Tula table, summed. */
  const kernelBytes = async (ns: string, family: 'netdev' | 'inet', set: string): Promise<number> => {
    const { stdout } = await lab.exec(ns, ['nft', '-j', 'list', 'set', family, 'tula', set]);
    let sum = 0;
    for (const item of NftSet.parse(JSON.parse(stdout)).nftables) for (const e of item.set?.elem ?? []) sum += e.elem.counter.bytes;
    return sum;
  };
  const kernel = async () => ({
    inbound: await kernelBytes(lab.balancers[0]!.ns, 'netdev', 'svc_packets'),
    returnPath: (await Promise.all(lab.backends.map((b) => kernelBytes(b.ns, 'inet', 'return4')))).reduce((a, b) => a + b, 0),
  });
  const stored = async (orgId: string, serviceId: string) => {
    const { rows } = await sql.query<{ kind: string; bytes: string }>(
      `SELECT kind::text, coalesce(sum(bytes), 0)::text AS bytes FROM "CounterSample"
        WHERE "organizationId" = $1 AND ((kind = 'service' AND "seriesKey" = $2) OR (kind = 'vip_return' AND "seriesKey" = $3)) GROUP BY kind`,
      [orgId, serviceId, LAB.l2Vip.v4],
    );
    const of = (k: string) => Number(rows.find((r) => r.kind === k)?.bytes ?? 0);
    return { inbound: of('service'), returnPath: of('vip_return') };
  };
  const quiet = () => new Promise((r) => setTimeout(r, 5000));

  it('sums the frames the page received to the kernel counters and the stored rows, across a dropped connection', async () => {
    const { id: serviceId } = await api.services.create.mutate(
      labWebService(lab, nodeIds.get('lb1')!, { intervalMs: 500, timeoutMs: 300, fall: 2 }),
    );
    const orgId = (await sql.query<{ organizationId: string }>('SELECT "organizationId" FROM "Service" WHERE id = $1', [serviceId]))
      .rows[0]!.organizationId;
    const download = () =>
      lab.exec(lab.client.ns, ['curl', '-sS', '-o', '/dev/null', '--max-time', '10', `http://${LAB.l2Vip.v4}/bytes/${256 * 1024}`]);
    // The service carries traffic before the window (the balancer and backends have counted it once).
    await waitFor('the service to carry a download', async () => (await download()).code === 0, 60_000);

    const relayPort = await relay.listen();
    const base = `http://127.0.0.1:${relayPort}`;
    const context = await browser.newContext({ baseURL: base });
    await context.addCookies(
      cookie.split('; ').map((c) => {
        const i = c.indexOf('=');
        return { name: c.slice(0, i), value: c.slice(i + 1), url: base };
      }),
    );
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    // What Chromium's network stack delivered to the page's EventSources, per request.
    const streams = new Map<string, { url: string; lastEventId?: string }>();
    const received = { inbound: 0, returnPath: 0, frames: 0 };
    const unreadable: string[] = [];
    // A timeline of the stream's requests, for the report when the sums differ.
    const t0 = Date.now();
    const timeline: string[] = [];
    const sentIds = new Map<string, string>();
    const note = (line: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${line}`);
    page.on('console', (m) => note(`console.${m.type()}: ${m.text().slice(0, 300)}`));
    page.on('pageerror', (e) => note(`pageerror: ${e.message.slice(0, 300)}`));
    cdp.on('Network.requestWillBeSent', (e) => {
      if (!e.request.url.includes('live.counters')) return;
      streams.set(e.requestId, { url: e.request.url, lastEventId: e.request.headers['Last-Event-ID'] });
      note(`request ${e.requestId} ${decodeURIComponent(e.request.url.replace(/^.*\?/, '')).slice(0, 200)}`);
    });
    cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
      // It may come before or after requestWillBeSent.
      const id = Object.entries(e.headers).find(([k]) => k.toLowerCase() === 'last-event-id')?.[1];
      if (id) sentIds.set(e.requestId, id);
      if (id || streams.has(e.requestId)) note(`request ${e.requestId} sent, Last-Event-ID ${id?.slice(0, 80) ?? 'none'}`);
    });
    cdp.on('Network.responseReceived', (e) => {
      if (streams.has(e.requestId)) note(`response ${e.requestId} ${e.response.status}`);
    });
    cdp.on('Network.loadingFailed', (e) => {
      if (streams.has(e.requestId)) note(`failed ${e.requestId} ${e.errorText}${e.canceled ? ' (canceled)' : ''}`);
    });
    cdp.on('Network.loadingFinished', (e) => {
      if (streams.has(e.requestId)) note(`finished ${e.requestId}`);
    });
    cdp.on('Network.eventSourceMessageReceived', (e) => {
      if (streams.has(e.requestId)) note(`event ${e.requestId} ${e.eventName} id=${e.eventId.slice(0, 80)} ${e.data.length} chars`);
      // Only data frames carry samples (and the cursor as their id); connected, ping and return frames do not.
      if (!streams.has(e.requestId) || e.eventName !== 'message') return;
      // Every event of live.counters is tracked(): a data frame without a cursor could not be resumed from.
      if (!e.eventId) return void unreadable.push(`no cursor: ${e.data.slice(0, 300)}`);
      const frame = Frame.safeParse(JSON.parse(e.data));
      if (!frame.success) return void unreadable.push(`${e.eventName} ${e.eventId} ${e.data.slice(0, 300)}`);
      received.frames++;
      for (const s of frame.data.json) {
        if (s.kind === 'service' && s.seriesKey === serviceId) received.inbound += s.bytes;
        if (s.kind === 'vip_return' && s.seriesKey === LAB.l2Vip.v4) received.returnPath += s.bytes;
      }
    });

    await page.goto(`/app/services/${serviceId}`);
    await page.getByTestId('traffic-chart').waitFor();
    await waitFor('the live stream to open', async () => streams.size > 0, 30_000);
    // Quiet: every report of the earlier download has been stored and delivered.
    await quiet();
    const [k0, s0, r0] = [await kernel(), await stored(orgId, serviceId), { ...received }];

    for (let i = 0; i < 4; i++) expect((await download()).code).toBe(0);
    // The browser's connections drop and stay refused for 8 s while traffic goes on: longer than the
    // page's queries retry (1 s, then 2 s), so every request of the page fails for a while, as in an outage.
    note('cut');
    const cutting = relay.cut(8000);
    for (let i = 0; i < 4; i++) expect((await download()).code).toBe(0);
    await cutting;
    note('cut over');
    for (let i = 0; i < 4; i++) expect((await download()).code).toBe(0);

    await quiet();
    const k1 = await kernel();
    // The agents' reports of the last second are stored, then delivered to the page.
    const s1 = await waitFor(
      'the stored sums to reach the kernel counters',
      async () => {
        const s = await stored(orgId, serviceId);
        return s.inbound - s0.inbound === k1.inbound - k0.inbound && s.returnPath - s0.returnPath === k1.returnPath - k0.returnPath
          ? s
          : undefined;
      },
      30_000,
    ).catch(async () => stored(orgId, serviceId));
    await waitFor(
      'the page to receive the stored sums',
      async () =>
        received.inbound - r0.inbound === s1.inbound - s0.inbound && received.returnPath - r0.returnPath === s1.returnPath - s0.returnPath,
      30_000,
    ).catch(() => undefined);

    const window = {
      kernel: { inbound: k1.inbound - k0.inbound, returnPath: k1.returnPath - k0.returnPath },
      stored: { inbound: s1.inbound - s0.inbound, returnPath: s1.returnPath - s0.returnPath },
      browser: { inbound: received.inbound - r0.inbound, returnPath: received.returnPath - r0.returnPath },
    };
    const reconnects = [...streams].map(([id, s]) => ({ ...s, lastEventId: s.lastEventId ?? sentIds.get(id) }));
    console.log(timeline.join('\n'));
    console.log(
      `window: ${JSON.stringify(window)}; ${received.frames - r0.frames} frames; ${relay.drops} sockets dropped; ` +
        `${reconnects.length} live.counters requests, resumed with ${reconnects.map((s) => (s.lastEventId || /lastEventId/.test(s.url) ? 'a cursor' : 'none')).join(', ')}`,
    );
    // The downloads (12 of 256 KB) went through: the window is not empty on either side.
    expect(window.kernel.inbound).toBeGreaterThan(1000);
    expect(window.kernel.returnPath).toBeGreaterThan(12 * 256 * 1024);
    expect(unreadable).toEqual([]);
    // What the balancer's agent said, for a window its reports did not reach (one CI run on 2026-12-06
    // stored none of lb1's 10,316 bytes while the backends' return path arrived exactly).
    if (window.stored.inbound !== window.kernel.inbound) console.log(`lb1's agent:\n${agents.get('lb1')!.output().slice(-4000)}`);
    // Exact, on every side.
    expect(window.stored).toEqual(window.kernel);
    expect(window.browser).toEqual(window.kernel);
    // The stream was cut and reopened, resuming from the cursor it had received.
    expect(relay.drops).toBeGreaterThan(0);
    expect(reconnects.length).toBeGreaterThan(1);
    // Every request after the first resumed from a cursor: the page never restarted its subscription afresh.
    expect(reconnects.slice(1).map((s) => (s.lastEventId || /lastEventId/.test(s.url) ? 'a cursor' : 'none'))).not.toContain('none');
    await context.close();
  }, 240_000);
});
