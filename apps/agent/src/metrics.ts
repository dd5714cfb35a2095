// `--metrics-port`: the agent's counters and backend health for Prometheus.
import { createServer, type Server } from 'node:http';
import type { Daemon } from './daemon.ts';

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');

export async function agentMetrics(daemon: Daemon): Promise<string> {
  const snap = await daemon.counters().catch(() => undefined);
  const health = daemon.healthSnapshot();
  const out: string[] = [];
  const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  family('tula_agent_desired_version', 'gauge', 'Version of the desired state the agent holds.');
  out.push(`tula_agent_desired_version ${daemon.desired?.version ?? -1}`);
  family('tula_agent_drift_repairs_total', 'counter', 'Convergences that found Tula\'s nft tables changed outside Tula and repaired them.');
  out.push(`tula_agent_drift_repairs_total ${daemon.driftRepairs}`);
  family('tula_service_packets_total', 'counter', 'Packets of a service seen at this balancer.');
  for (const [s, v] of Object.entries(snap?.services ?? {})) out.push(`tula_service_packets_total{service="${esc(s)}"} ${v.packets}`);
  family('tula_service_bytes_total', 'counter', 'Bytes of a service seen at this balancer.');
  for (const [s, v] of Object.entries(snap?.services ?? {})) out.push(`tula_service_bytes_total{service="${esc(s)}"} ${v.bytes}`);
  family('tula_service_new_flows_total', 'counter', 'New flows of a service (TCP SYNs, new UDP flows).');
  for (const [s, v] of Object.entries(snap?.services ?? {})) out.push(`tula_service_new_flows_total{service="${esc(s)}"} ${v.newFlows}`);
  family('tula_service_drops_total', 'counter', 'Packets dropped because no backend was usable.');
  for (const [s, v] of Object.entries(snap?.services ?? {})) out.push(`tula_service_drops_total{service="${esc(s)}"} ${v.drops}`);
  family('tula_service_flow_table_full_total', 'counter', 'New flows of a service that its full flow table could not pin (they follow the Maglev table).');
  for (const [s, v] of Object.entries(snap?.services ?? {})) out.push(`tula_service_flow_table_full_total{service="${esc(s)}"} ${v.flowTableFull}`);
  family('tula_backend_bytes_total', 'counter', 'Bytes sent to a backend by this balancer.');
  for (const [s, v] of Object.entries(snap?.services ?? {})) {
    for (const [b, c] of Object.entries(v.backends)) out.push(`tula_backend_bytes_total{service="${esc(s)}",backend="${esc(b)}"} ${c.bytes}`);
  }
  family('tula_backend_up', 'gauge', 'Health check state of a backend (1 up, 0 down).');
  for (const [key, h] of Object.entries(health)) {
    const [s, b] = key.split('|');
    out.push(`tula_backend_up{service="${esc(s!)}",backend="${esc(b!)}"} ${h.healthy ? 1 : 0}`);
  }
  family('tula_return_path_bytes_total', 'counter', 'Bytes leaving this backend host from a VIP (the DSR return path).');
  for (const [vip, v] of Object.entries(snap?.vips ?? {})) out.push(`tula_return_path_bytes_total{vip="${esc(vip)}"} ${v.bytes}`);
  return `${out.join('\n')}\n`;
}

export function serveMetrics(daemon: Daemon, port: number, log: (m: string) => void): Server {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('see /metrics\n');
      return;
    }
    agentMetrics(daemon).then(
      (text) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text),
      (err: Error) => res.writeHead(500).end(`${err.message}\n`),
    );
  });
  server.listen(port, () => log(`metrics on http://0.0.0.0:${port}/metrics`));
  return server;
}
