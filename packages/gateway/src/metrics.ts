// Prometheus exposition of fleet state for GET /metrics on the panel.
import { onlineWhere } from '@tula/control';
import type { Database } from '@tula/db';
import type { AgentGateway } from './gateway.ts';

function line(name: string, value: number, labels: Record<string, string> = {}): string {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
  return `${name}${l ? `{${l}}` : ''} ${value}`;
}

export async function metricsText(db: Database, gateway: AgentGateway): Promise<string> {
  const [nodes, online, drift, errors, services, orgs] = await Promise.all([
    db.prisma.node.count({ where: { revokedAt: null } }),
    db.prisma.node.count({ where: onlineWhere() }),
    db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Node" WHERE "revokedAt" IS NULL AND "appliedHash" IS DISTINCT FROM "desiredHash"`),
    db.prisma.node.count({ where: { revokedAt: null, lastError: { not: null } } }),
    db.prisma.service.count(),
    db.prisma.organization.count(),
  ]);
  const bytes = await db.pool.query<{ kind: string; bytes: string; packets: string }>(
    `SELECT kind::text, COALESCE(sum(bytes), 0)::text AS bytes, COALESCE(sum(packets), 0)::text AS packets
       FROM "CounterRollup" WHERE resolution = 'hour' GROUP BY kind`,
  );
  const s = gateway.stats;
  return [
    '# HELP tula_nodes Enrolled, unrevoked nodes.',
    '# TYPE tula_nodes gauge',
    line('tula_nodes', nodes),
    '# HELP tula_nodes_online Nodes whose agent reported within the last 30 s.',
    '# TYPE tula_nodes_online gauge',
    line('tula_nodes_online', online),
    '# HELP tula_nodes_out_of_sync Nodes whose applied state differs from their desired state.',
    '# TYPE tula_nodes_out_of_sync gauge',
    line('tula_nodes_out_of_sync', drift.rows[0]?.n ?? 0),
    '# HELP tula_nodes_with_errors Nodes whose last apply failed (NACK).',
    '# TYPE tula_nodes_with_errors gauge',
    line('tula_nodes_with_errors', errors),
    '# HELP tula_services Configured services.',
    '# TYPE tula_services gauge',
    line('tula_services', services),
    '# HELP tula_organizations Organisations.',
    '# TYPE tula_organizations gauge',
    line('tula_organizations', orgs),
    '# HELP tula_gateway_connections Agents connected to this panel process.',
    '# TYPE tula_gateway_connections gauge',
    line('tula_gateway_connections', s.connected),
    '# HELP tula_gateway_messages_total Messages received from agents by this panel process.',
    '# TYPE tula_gateway_messages_total counter',
    line('tula_gateway_messages_total', s.messages),
    '# HELP tula_gateway_rejected_handshakes_total Agent connections refused (credential, rate limit).',
    '# TYPE tula_gateway_rejected_handshakes_total counter',
    line('tula_gateway_rejected_handshakes_total', s.rejectedHandshakes),
    '# HELP tula_gateway_bad_messages_total Connections closed for malformed or unexpected messages.',
    '# TYPE tula_gateway_bad_messages_total counter',
    line('tula_gateway_bad_messages_total', s.closedForBadMessages),
    '# HELP tula_traffic_bytes_total Bytes counted by agents, by kind (service: at balancers; vip_return: leaving backends).',
    '# TYPE tula_traffic_bytes_total counter',
    ...bytes.rows.map((r) => line('tula_traffic_bytes_total', Number(r.bytes), { kind: r.kind })),
    '# HELP tula_traffic_packets_total Packets counted by agents, by kind.',
    '# TYPE tula_traffic_packets_total counter',
    ...bytes.rows.map((r) => line('tula_traffic_packets_total', Number(r.packets), { kind: r.kind })),
    '',
  ].join('\n');
}
