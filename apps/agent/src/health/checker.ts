// Health checks the agent runs against each backend of the services it balances:
// TCP connect, HTTP(S) GET with an expected status, UDP send and expect. A backend
// goes down after `fall` consecutive failures and comes back after `rise` successes.
import { createSocket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { backendKey, canonicalIp, servicePorts, type DesiredState, type HealthCheck } from '@tula/protocol';
import { z } from 'zod';

export type ProbeResult = { ok: true } | { ok: false; error: string };

/** Words a person reads in the panel, for the socket errors a check meets most. */
const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  EPIPE: 'connection closed',
};

function probeError(e: NodeJS.ErrnoException): string {
  return (e.code && SOCKET_ERRORS[e.code]) ?? e.message;
}

function withTimeout(ms: number, start: (done: (r: ProbeResult) => void) => () => void): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let finished = false;
    let cleanup: () => void = () => undefined;
    const done = (r: ProbeResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      cleanup();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: `no answer within ${ms} ms` }), ms);
    cleanup = start(done);
  });
}

export function probe(address: string, port: number, check: HealthCheck): Promise<ProbeResult> {
  switch (check.type) {
    case 'tcp':
      return withTimeout(check.timeoutMs, (done) => {
        const s = connect({ host: address, port });
        s.once('connect', () => done({ ok: true }));
        s.once('error', (e) => done({ ok: false, error: probeError(e) }));
        return () => s.destroy();
      });
    case 'http':
    case 'https':
      return withTimeout(check.timeoutMs, (done) => {
        const request = check.type === 'http' ? httpRequest : httpsRequest;
        const req = request(
          {
            host: address,
            port,
            path: check.path,
            method: 'GET',
            rejectUnauthorized: false,
            headers: { 'user-agent': 'tula-agent health check' },
          },
          (res) => {
            res.resume();
            done(
              res.statusCode === check.expectStatus
                ? { ok: true }
                : { ok: false, error: `HTTP ${res.statusCode}, expected ${check.expectStatus}` },
            );
          },
        );
        req.once('error', (e) => done({ ok: false, error: probeError(e) }));
        req.end();
        return () => req.destroy();
      });
    case 'udp':
      return withTimeout(check.timeoutMs, (done) => {
        const sock = createSocket(address.includes(':') ? 'udp6' : 'udp4');
        sock.once('error', (e) => done({ ok: false, error: probeError(e) }));
        sock.on('message', (msg) => {
          if (check.expect === undefined || msg.toString().includes(check.expect)) done({ ok: true });
          else done({ ok: false, error: `reply did not contain ${JSON.stringify(check.expect)}` });
        });
        sock.connect(port, address, () => sock.send(Buffer.from(check.payload)));
        return () => sock.close();
      });
  }
}

export const BackendHealth = z.object({
  healthy: z.boolean(),
  /** When the current state began (ms since epoch). */
  since: z.number(),
  lastError: z.string().optional(),
  checkedAt: z.number().optional(),
});
export type BackendHealth = z.infer<typeof BackendHealth>;

interface Target {
  service: string;
  address: string;
  port: number;
  check: HealthCheck;
  fingerprint: string;
  timer?: NodeJS.Timeout;
  health: BackendHealth;
  successes: number;
  failures: number;
}

/** Keeps one probe loop per (service, backend) with a health check. */
export class HealthMonitor {
  private readonly targets = new Map<string, Target>();
  private stopped = false;
  /** Health known before this process started (`restore`), taken over by the first `update`. */
  private restored = new Map<string, BackendHealth>();

  constructor(
    private readonly onChange: (key: string, health: BackendHealth) => void,
    private readonly probeFn: typeof probe = probe,
  ) {}

  /**
   * Starts from health saved by an earlier process: a backend that was down stays
   * down until `rise` checks pass, instead of taking traffic until `fall` fail.
   */
  restore(saved: Record<string, BackendHealth>): void {
    this.restored = new Map(Object.entries(saved));
  }

  /** Starts, keeps or stops probe loops to match the services in `state`. */
  update(state: DesiredState): void {
    const seen = new Set<string>();
    for (const s of state.balancer?.services ?? []) {
      if (!s.healthCheck) continue;
      for (const b of s.backends) {
        // A NAT backend listens on its own port when it names one: the service's port is the VIP's.
        const port = s.healthCheck.port ?? b.port ?? servicePorts(s)[0];
        const address = canonicalIp(b.address);
        const key = backendKey(s.name, address);
        const fingerprint = JSON.stringify([s.healthCheck, port]);
        seen.add(key);
        const existing = this.targets.get(key);
        if (existing && existing.fingerprint === fingerprint) continue;
        if (existing?.timer) clearTimeout(existing.timer);
        // A new backend counts as healthy until `fall` checks fail: traffic is not
        // withheld from a fleet that starts up together. One known before a restart
        // keeps its state.
        const target: Target = {
          service: s.name,
          address,
          port,
          check: s.healthCheck,
          fingerprint,
          health: existing?.health ?? this.restored.get(key) ?? { healthy: true, since: Date.now() },
          successes: 0,
          failures: 0,
        };
        this.targets.set(key, target);
        this.schedule(key, target, 0);
      }
    }
    this.restored.clear();
    for (const [key, t] of this.targets) {
      if (seen.has(key)) continue;
      if (t.timer) clearTimeout(t.timer);
      this.targets.delete(key);
    }
  }

  private schedule(key: string, t: Target, delay: number): void {
    if (this.stopped) return;
    t.timer = setTimeout(() => void this.probeOnce(key, t), delay);
  }

  private async probeOnce(key: string, t: Target): Promise<void> {
    // A probe that throws is a failed check: the loop must go on, or the backend's health freezes.
    const r = await this.probeFn(t.address, t.port, t.check).catch(
      (e: unknown): ProbeResult => ({ ok: false, error: e instanceof Error ? probeError(e) : String(e) }),
    );
    if (this.targets.get(key) !== t || this.stopped) return;
    t.health.checkedAt = Date.now();
    if (r.ok) {
      t.successes++;
      t.failures = 0;
      delete t.health.lastError;
      if (!t.health.healthy && t.successes >= t.check.rise) this.transition(key, t, true);
    } else {
      t.failures++;
      t.successes = 0;
      t.health.lastError = r.error;
      if (t.health.healthy && t.failures >= t.check.fall) this.transition(key, t, false);
    }
    this.schedule(key, t, t.check.intervalMs);
  }

  private transition(key: string, t: Target, healthy: boolean): void {
    t.health = { ...t.health, healthy, since: Date.now() };
    this.onChange(key, t.health);
  }

  unhealthy(): string[] {
    return [...this.targets].filter(([, t]) => !t.health.healthy).map(([k]) => k);
  }

  snapshot(): Record<string, BackendHealth> {
    return Object.fromEntries([...this.targets].map(([k, t]) => [k, { ...t.health }]));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.targets.values()) if (t.timer) clearTimeout(t.timer);
  }
}
