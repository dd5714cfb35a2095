// iproute2 wrappers. Arguments are validated values (canonical addresses,
// interface names matching the protocol's pattern, integers); output is parsed
// from `ip -j` and validated.
import { z } from 'zod';
import { run } from '../exec.ts';

/** Routes and rules Tula adds carry this protocol number, so they can be found again. */
export const TULA_RT_PROTO = 84;

const Link = z.object({
  ifname: z.string(),
  address: z.string().optional(),
  flags: z.array(z.string()).default([]),
  linkinfo: z.object({ info_kind: z.string().optional() }).optional(),
});
export type Link = z.infer<typeof Link>;

export async function links(): Promise<Link[]> {
  const r = await run(['ip', '-j', '-d', 'link', 'show']);
  return z.array(Link).parse(JSON.parse(r.stdout));
}

const AddrInfo = z.object({ family: z.string(), local: z.string(), prefixlen: z.number() });
const IfAddrs = z.object({ ifname: z.string(), addr_info: z.array(AddrInfo.partial().passthrough()).default([]) });
export interface IfAddress {
  ifname: string;
  address: string;
  prefixLength: number;
}

export async function addresses(): Promise<IfAddress[]> {
  const r = await run(['ip', '-j', 'addr', 'show']);
  return z
    .array(IfAddrs)
    .parse(JSON.parse(r.stdout))
    .flatMap((i) =>
      i.addr_info
        .filter((a) => typeof a.local === 'string' && typeof a.prefixlen === 'number')
        .map((a) => ({ ifname: i.ifname, address: a.local!, prefixLength: a.prefixlen! })),
    );
}

const Neigh = z.object({
  dst: z.string(),
  dev: z.string().optional(),
  lladdr: z.string().optional(),
  state: z.array(z.string()).default([]),
});
export type Neighbour = z.infer<typeof Neigh>;

export async function neighbours(): Promise<Neighbour[]> {
  const r = await run(['ip', '-j', 'neigh', 'show']);
  return z.array(Neigh).parse(JSON.parse(r.stdout || '[]'));
}

const RouteGet = z.object({ dev: z.string().optional(), type: z.string().optional(), gateway: z.string().optional() });

export async function routeGet(address: string): Promise<z.infer<typeof RouteGet> | undefined> {
  const r = await run(['ip', '-j', 'route', 'get', address], { allowFailure: true });
  if (r.code !== 0) return undefined;
  return z.array(RouteGet).parse(JSON.parse(r.stdout))[0];
}

export async function defaultRouteDevice(family: 4 | 6): Promise<string | undefined> {
  const r = await run(['ip', '-j', `-${family}`, 'route', 'show', 'default'], { allowFailure: true });
  if (r.code !== 0) return undefined;
  return z.array(RouteGet).parse(JSON.parse(r.stdout || '[]'))[0]?.dev;
}

const Rule = z.object({
  priority: z.number(),
  table: z.string().optional(),
  fwmark: z.string().optional(),
  fwmask: z.string().optional(),
  iif: z.string().optional(),
  protocol: z.string().optional(),
});
export type Rule = z.infer<typeof Rule>;

export async function rules(family: 4 | 6): Promise<Rule[]> {
  const r = await run(['ip', '-j', `-${family}`, 'rule', 'show']);
  return z.array(Rule).parse(JSON.parse(r.stdout || '[]'));
}

const Route = z.object({ dst: z.string(), dev: z.string().optional(), protocol: z.string().optional() }).passthrough();

export async function routesInTable(family: 4 | 6, table: number): Promise<z.infer<typeof Route>[]> {
  const r = await run(['ip', '-j', `-${family}`, 'route', 'show', 'table', String(table)], { allowFailure: true });
  if (r.code !== 0) return [];
  return z.array(Route).parse(JSON.parse(r.stdout || '[]'));
}

/** Tables that hold a route added by Tula. */
export async function tulaRouteTables(family: 4 | 6): Promise<number[]> {
  const r = await run(['ip', '-j', `-${family}`, 'route', 'show', 'table', 'all', 'proto', String(TULA_RT_PROTO)], {
    allowFailure: true,
  });
  if (r.code !== 0) return [];
  const rows = z.array(z.object({ table: z.union([z.string(), z.number()]).optional() }).passthrough()).parse(JSON.parse(r.stdout || '[]'));
  return [...new Set(rows.map((x) => Number(x.table)).filter((t) => Number.isInteger(t) && t > 0))];
}

export const ip = (...args: string[]) => run(['ip', ...args]);
