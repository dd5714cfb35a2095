// The agent persists the model it last applied, to adopt the kernel's state after a
// restart and to sync incrementally. The file is validated like any other input.
import { z } from 'zod';
import { newTableId, type DataplaneModel, type NftTable } from './model.ts';

const Entries = z.array(z.tuple([z.string(), z.string().nullable()]));
const TableJson = z.object({
  family: z.enum(['netdev', 'inet']),
  sets: z.array(z.tuple([z.string(), z.object({ decl: z.string(), dynamic: z.boolean().optional() })])),
  chains: z.array(z.tuple([z.string(), z.object({ hook: z.string().optional(), rules: z.array(z.string()) })])),
  fragments: z.array(z.tuple([z.string(), z.object({ hash: z.string(), elements: z.array(z.tuple([z.string(), Entries])) })])),
});
const TunnelType = z.enum(['ipip', 'gre', 'vxlan']);
export const ModelJson = z.object({
  version: z.int().min(0),
  tables: z.array(TableJson),
  host: z.object({
    ipv4Forwarding: z.boolean(),
    ipv6Forwarding: z.boolean(),
    announce: z.array(z.object({ vip: z.string(), interface: z.string() })),
    balancerTunnels: z.array(TunnelType),
    tunnelRoutes: z.array(
      z.object({ id: z.int(), mark: z.int(), underlay: z.string(), tunnel: TunnelType, families: z.array(z.union([z.literal(4), z.literal(6)])) }),
    ),
    l3Vips: z.array(z.string()),
    loopbackVips: z.array(z.string()),
    backendTunnels: z.array(TunnelType),
    arpHardening: z.boolean(),
  }),
  services: z.array(z.object({ name: z.string(), mark: z.int(), mode: z.enum(['l2', 'l3', 'nat']), interface: z.string(), tableSize: z.int() })),
  backends: z.array(
    z.object({
      service: z.string(),
      address: z.string(),
      mark: z.int(),
      condition: z.enum(['usable', 'down', 'draining', 'disabled', 'unresolved']),
      slots: z.int(),
      flowMap: z.string(),
    }),
  ),
  returnVips: z.array(z.string()),
  ids: z.record(z.string(), z.int()),
  serviceIds: z.record(z.string(), z.int()),
  warnings: z.array(z.string()),
});
export type ModelJson = z.infer<typeof ModelJson>;

function tableToJson(t: NftTable): z.infer<typeof TableJson> {
  return {
    family: t.family,
    sets: [...t.sets].map(([n, s]) => [n, { decl: s.decl, ...(s.dynamic ? { dynamic: true } : {}) }]),
    chains: [...t.chains].map(([n, c]) => [n, { ...(c.hook ? { hook: c.hook } : {}), rules: c.rules }]),
    fragments: [...t.fragments].map(([n, f]) => [n, { hash: f.hash, elements: [...f.elements].map(([set, m]) => [set, [...m]]) }]),
  };
}

export function modelToJson(m: DataplaneModel): ModelJson {
  return { ...m, tables: m.tables.map(tableToJson) };
}

export function modelFromJson(input: unknown): DataplaneModel {
  const j = ModelJson.parse(input);
  return {
    ...j,
    tables: j.tables.map((t) => ({
      id: newTableId(),
      family: t.family,
      sets: new Map(t.sets.map(([n, s]) => [n, { decl: s.decl, ...(s.dynamic ? { dynamic: true } : {}) }])),
      chains: new Map(t.chains.map(([n, c]) => [n, { ...(c.hook ? { hook: c.hook } : {}), rules: c.rules }])),
      fragments: new Map(t.fragments.map(([n, f]) => [n, { hash: f.hash, elements: new Map(f.elements.map(([set, e]) => [set, new Map(e)])) }])),
    })),
  };
}
