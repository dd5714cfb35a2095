// `--metrics-port`: the agent's counters and backend health for Prometheus
// (prom-client). One counter read per scrape: the snapshot is read first, then
// every metric is filled from it.
import { createServer, type Server } from 'node:http';
import { mirroredCounter } from '@tula/protocol/metrics';
import { Gauge, Registry } from 'prom-client';
import type { Daemon } from './daemon.ts';
import type { CounterSnapshot } from './dataplane/counters.ts';
import type { BackendHealth } from './health/checker.ts';

interface Scrape {
  snap: CounterSnapshot | undefined;
  health: Record<string, BackendHealth>;
}

/** A counter filled at each scrape from the kernel's running totals, as this scrape read them. */
const kernelCounter = (
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: (s: Scrape) => [number, Record<string, string>][],
  scrape: () => Scrape,
) => mirroredCounter(registry, name, help, labelNames, () => read(scrape()));

const services = (s: Scrape) => Object.entries(s.snap?.services ?? {});
const backends = (s: Scrape) =>
  services(s).flatMap(([service, v]) => Object.entries(v.backends).map(([backend, c]) => ({ service, backend, c })));

export function agentMetrics(daemon: Daemon): { registry: Registry; render(): Promise<string> } {
  const registry = new Registry();
  let current: Scrape = { snap: undefined, health: {} };
  const scrape = () => current;
  new Gauge({
    name: 'tula_agent_desired_version',
    help: 'Version of the desired state the agent holds.',
    registers: [registry],
    collect() {
      this.set(daemon.desired?.version ?? -1);
    },
  });
  new Gauge({
    name: 'tula_agent_apply_failing',
    help: 'Whether the desired state could not be applied (1; the previous rules still forward) or was applied (0).',
    registers: [registry],
    collect() {
      this.set(daemon.applyFailing ? 1 : 0);
    },
  });
  mirroredCounter(
    registry,
    'tula_agent_drift_repairs_total',
    "Convergences that found Tula's nft tables changed outside Tula and repaired them.",
    [],
    () => [[daemon.driftRepairs, {}]],
  );
  const perService = (name: string, help: string, pick: (v: CounterSnapshot['services'][string]) => number) =>
    kernelCounter(registry, name, help, ['service'], (s) => services(s).map(([service, v]) => [pick(v), { service }]), scrape);
  perService('tula_service_packets_total', 'Packets of a service seen at this balancer.', (v) => v.packets);
  perService('tula_service_bytes_total', 'Bytes of a service seen at this balancer.', (v) => v.bytes);
  perService('tula_service_new_flows_total', 'New flows of a service (TCP SYNs, new UDP flows).', (v) => v.newFlows);
  perService('tula_service_drops_total', 'Packets dropped because no backend was usable.', (v) => v.drops);
  perService(
    'tula_service_flow_table_full_total',
    'New flows of a service that its full flow table could not pin (they follow the Maglev table).',
    (v) => v.flowTableFull,
  );
  kernelCounter(
    registry,
    'tula_backend_packets_total',
    'Packets sent to a backend by this balancer.',
    ['service', 'backend'],
    (s) => backends(s).map(({ service, backend, c }) => [c.packets, { service, backend }]),
    scrape,
  );
  kernelCounter(
    registry,
    'tula_backend_bytes_total',
    'Bytes sent to a backend by this balancer.',
    ['service', 'backend'],
    (s) => backends(s).map(({ service, backend, c }) => [c.bytes, { service, backend }]),
    scrape,
  );
  kernelCounter(
    registry,
    'tula_backend_new_flows_total',
    'New flows this balancer sent to a backend.',
    ['service', 'backend'],
    (s) => backends(s).map(({ service, backend, c }) => [c.newFlows, { service, backend }]),
    scrape,
  );
  new Gauge({
    name: 'tula_backend_up',
    help: 'Health check state of a backend (1 up, 0 down).',
    labelNames: ['service', 'backend'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [key, h] of Object.entries(current.health)) {
        const [service, backend] = key.split('|');
        this.set({ service: service!, backend: backend! }, h.healthy ? 1 : 0);
      }
    },
  });
  kernelCounter(
    registry,
    'tula_return_path_packets_total',
    'Packets leaving this backend host from a VIP (the DSR return path).',
    ['vip'],
    (s) => Object.entries(s.snap?.vips ?? {}).map(([vip, v]) => [v.packets, { vip }]),
    scrape,
  );
  kernelCounter(
    registry,
    'tula_return_path_bytes_total',
    'Bytes leaving this backend host from a VIP (the DSR return path).',
    ['vip'],
    (s) => Object.entries(s.snap?.vips ?? {}).map(([vip, v]) => [v.bytes, { vip }]),
    scrape,
  );
  return {
    registry,
    async render() {
      current = { snap: await daemon.counters().catch(() => undefined), health: daemon.healthSnapshot() };
      return registry.metrics();
    },
  };
}

export function serveMetrics(daemon: Daemon, port: number, log: (m: string) => void): Server {
  const metrics = agentMetrics(daemon);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  server.listen(port, () => log(`metrics on http://0.0.0.0:${port}/metrics`));
  return server;
}
