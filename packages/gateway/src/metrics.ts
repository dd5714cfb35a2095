// Prometheus exposition for GET /metrics on the panel: this process's own
// counters and gauges, kept in memory, so a scrape reads no table and sums
// nothing across tenants. Each replica is scraped; Prometheus adds them up.
import type { AgentGateway } from './gateway.ts';

type Sample = [value: number, labels?: Record<string, string>];

function metric(name: string, type: 'gauge' | 'counter', help: string, samples: Sample[]): string[] {
  const render = ([value, labels = {}]: Sample) => {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
      .join(',');
    return `${name}${l ? `{${l}}` : ''} ${value}`;
  };
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(render)];
}

export function metricsText(gateway: AgentGateway): string {
  const s = gateway.stats;
  const traffic = [...gateway.trafficTotals];
  return [
    ...metric('tula_gateway_connections', 'gauge', 'Agents connected to this panel process.', [[s.connected]]),
    ...metric('tula_gateway_messages_total', 'counter', 'Messages received from agents by this panel process.', [[s.messages]]),
    ...metric('tula_gateway_acks_total', 'counter', 'Desired states agents reported applied (ACK) to this panel process.', [[s.acks]]),
    ...metric('tula_gateway_nacks_total', 'counter', 'Desired states agents reported they could not apply (NACK) to this panel process.', [[s.nacks]]),
    ...metric('tula_gateway_rejected_handshakes_total', 'counter', 'Agent connections refused (credential, rate limit).', [[s.rejectedHandshakes]]),
    ...metric('tula_gateway_bad_messages_total', 'counter', 'Connections closed for malformed or unexpected messages.', [[s.closedForBadMessages]]),
    ...metric(
      'tula_traffic_bytes_total',
      'counter',
      'Bytes counted by agents and stored by this panel process, by kind (service and backend: at balancers; vip_return: leaving backends).',
      traffic.map(([kind, t]) => [t.bytes, { kind }]),
    ),
    ...metric('tula_traffic_packets_total', 'counter', 'Packets counted by agents and stored by this panel process, by kind.', traffic.map(([kind, t]) => [t.packets, { kind }])),
    '',
  ].join('\n');
}
