// Prometheus exposition for GET /metrics on the panel (prom-client): this
// process's own counters and gauges, kept in memory, so a scrape reads no table
// and sums nothing across tenants. Each replica is scraped; Prometheus adds them up.
import { mirroredCounter } from '@tula/protocol/metrics';
import { Gauge, Registry } from 'prom-client';
import type { AgentGateway } from './gateway.ts';

/** The panel's metrics registry over one gateway; `registry.metrics()` renders a scrape. */
export function panelMetrics(gateway: AgentGateway): Registry {
  const registry = new Registry();
  const s = gateway.stats;
  new Gauge({
    name: 'tula_gateway_connections',
    help: 'Agents connected to this panel process.',
    registers: [registry],
    collect() {
      this.set(s.connected);
    },
  });
  mirroredCounter(registry, 'tula_gateway_messages_total', 'Messages received from agents by this panel process.', [], () => [
    [s.messages, {}],
  ]);
  mirroredCounter(registry, 'tula_gateway_acks_total', 'Desired states agents reported applied (ACK) to this panel process.', [], () => [
    [s.acks, {}],
  ]);
  mirroredCounter(
    registry,
    'tula_gateway_nacks_total',
    'Desired states agents reported they could not apply (NACK) to this panel process.',
    [],
    () => [[s.nacks, {}]],
  );
  mirroredCounter(registry, 'tula_gateway_rejected_handshakes_total', 'Agent connections refused (credential, rate limit).', [], () => [
    [s.rejectedHandshakes, {}],
  ]);
  mirroredCounter(registry, 'tula_gateway_bad_messages_total', 'Connections closed for malformed or unexpected messages.', [], () => [
    [s.closedForBadMessages, {}],
  ]);
  mirroredCounter(
    registry,
    'tula_traffic_bytes_total',
    'Bytes counted by agents and stored by this panel process, by kind (service and backend: at balancers; vip_return: leaving backends).',
    ['kind'],
    () => [...gateway.trafficTotals].map(([kind, t]) => [t.bytes, { kind }]),
  );
  mirroredCounter(
    registry,
    'tula_traffic_packets_total',
    'Packets counted by agents and stored by this panel process, by kind.',
    ['kind'],
    () => [...gateway.trafficTotals].map(([kind, t]) => [t.packets, { kind }]),
  );
  mirroredCounter(
    registry,
    'tula_counter_rows_written_total',
    'Counter rows this panel process wrote, by table (grows with services, not agents).',
    ['table'],
    () => Object.entries(gateway.counterStats.written).map(([table, n]) => [n, { table }]),
  );
  mirroredCounter(
    registry,
    'tula_counter_reports_total',
    'Agent counter reports, by outcome (stored; repeated: seen before, acknowledged again; failed: not stored, the agent resends).',
    ['outcome'],
    () => Object.entries(gateway.counterStats.reports).map(([outcome, n]) => [n, { outcome }]),
  );
  return registry;
}
