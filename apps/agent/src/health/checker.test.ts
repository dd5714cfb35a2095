// Health probes against real local servers: TCP, HTTP with status, UDP with reply.
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthMonitor, probe } from './checker.ts';

const timing = { intervalMs: 50, timeoutMs: 300, rise: 2, fall: 2 };
let tcpPort = 0;
let httpPort = 0;
let udpPort = 0;
const closers: (() => void)[] = [];

beforeAll(async () => {
  const tcp = createServer((s) => s.end());
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  tcpPort = (tcp.address() as AddressInfo).port;
  const http = createHttpServer((req, res) => {
    res.writeHead(req.url === '/healthz' ? 200 : 503);
    res.end();
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  httpPort = (http.address() as AddressInfo).port;
  const udp = createSocket('udp4');
  udp.on('message', (m, from) => udp.send(m.toString() === 'ping' ? 'pong ok' : 'what', from.port, from.address));
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  udpPort = udp.address().port;
  closers.push(
    () => tcp.close(),
    () => http.close(),
    () => udp.close(),
  );
});
afterAll(() => closers.forEach((c) => c()));

describe('probes', () => {
  it('tcp: connect succeeds, refused fails', async () => {
    expect(await probe('127.0.0.1', tcpPort, { type: 'tcp', ...timing })).toEqual({ ok: true });
    const closed = await probe('127.0.0.1', 1, { type: 'tcp', ...timing });
    expect(closed.ok).toBe(false);
  });

  it('http: the expected status passes, another fails and says which', async () => {
    expect(await probe('127.0.0.1', httpPort, { type: 'http', path: '/healthz', expectStatus: 200, ...timing })).toEqual({ ok: true });
    expect(await probe('127.0.0.1', httpPort, { type: 'http', path: '/', expectStatus: 200, ...timing })).toEqual({
      ok: false,
      error: 'HTTP 503, expected 200',
    });
  });

  it('udp: a reply containing the expected text passes; silence or another reply fails', async () => {
    expect(await probe('127.0.0.1', udpPort, { type: 'udp', payload: 'ping', expect: 'pong', ...timing })).toEqual({ ok: true });
    expect((await probe('127.0.0.1', udpPort, { type: 'udp', payload: 'x', expect: 'pong', ...timing })).ok).toBe(false);
    const silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
    const r = await probe('127.0.0.1', silent.address().port, { type: 'udp', payload: 'ping', ...timing });
    silent.close();
    expect(r).toEqual({ ok: false, error: 'no answer within 300 ms' });
  });
});

/** One TCP service with one health-checked backend, key `web|10.0.0.2`. */
const oneBackend: Parameters<HealthMonitor['update']>[0] = {
  apiVersion: 'tula/v1',
  version: 1,
  balancer: {
    services: [
      {
        name: 'web',
        vip: '10.0.0.1',
        port: 80,
        protocol: 'tcp',
        mode: 'l2',
        scheduler: 'maglev',
        drainTimeoutS: 300,
        healthCheck: { type: 'tcp', ...timing },
        backends: [{ address: '10.0.0.2', weight: 1, state: 'active' }],
      },
    ],
  },
};

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
};

describe('HealthMonitor', () => {
  it('takes a backend down after `fall` failures and back after `rise` successes', async () => {
    let up = true;
    const transitions: string[] = [];
    const monitor = new HealthMonitor(
      (key, h) => transitions.push(`${key}=${h.healthy ? 'up' : 'down'}`),
      () => Promise.resolve(up ? { ok: true } : { ok: false, error: 'refused' }),
    );
    monitor.update(oneBackend);
    up = false;
    await until(() => transitions.length === 1);
    expect(monitor.unhealthy()).toEqual(['web|10.0.0.2']);
    up = true;
    await until(() => transitions.length === 2);
    monitor.stop();
    expect(transitions).toEqual(['web|10.0.0.2=down', 'web|10.0.0.2=up']);
    expect(monitor.unhealthy()).toEqual([]);
  });

  it("probes a NAT backend on its own port, not the VIP's", async () => {
    // A port nothing listens on: the VIP's, and the port of the backend that is really down.
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const vipPort = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    const transitions: string[] = [];
    const monitor = new HealthMonitor((key, h) => transitions.push(`${key}=${h.healthy ? 'up' : 'down'}`));
    const [web] = oneBackend.balancer!.services;
    monitor.update({
      ...oneBackend,
      balancer: {
        services: [
          {
            ...web!,
            name: 'nat',
            port: vipPort,
            mode: 'nat',
            backends: [
              { address: '127.0.0.1', port: tcpPort, weight: 1, state: 'active' },
              { address: '127.0.0.2', port: vipPort, weight: 1, state: 'active' },
            ],
          },
        ],
      },
    });
    await until(() => transitions.length > 0);
    // Both are probed on the same schedule: a few more rounds for the other to fail, were it probed on the VIP's port.
    await new Promise((r) => setTimeout(r, 4 * timing.intervalMs));
    monitor.stop();
    expect(transitions).toEqual(['nat|127.0.0.2=down']);
  });

  it('counts a probe that throws as failed and keeps probing', async () => {
    let calls = 0;
    const transitions: string[] = [];
    const monitor = new HealthMonitor(
      (key, h) => transitions.push(`${key}=${h.healthy ? 'up' : 'down'} ${h.lastError ?? ''}`.trim()),
      () => {
        calls++;
        return Promise.reject(new Error('probe crashed'));
      },
    );
    monitor.update(oneBackend);
    await until(() => transitions.length === 1 && calls > timing.fall);
    monitor.stop();
    expect(transitions).toEqual(['web|10.0.0.2=down probe crashed']);
    expect(calls).toBeGreaterThan(timing.fall);
  });
});
