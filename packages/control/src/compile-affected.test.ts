// nodesAffected lets a node's first document or new addresses be compiled without
// the rest of its organisation. These check it against compiling everything:
// every document that changes is in the set it returns, and compiling only that
// set gives the same documents.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileNodes, nodesAffected, type NodeChange, type NodeRow, type ServiceRow } from './compile.ts';

const columns = {
  portStart: 80,
  portEnd: 80,
  protocol: 'tcp',
  tunnel: 'vxlan',
  ingressInterface: null,
  drainTimeoutS: 30,
  mss: null,
  hcType: 'none',
  hcPort: null,
  hcPath: null,
  hcExpectStatus: null,
  hcPayload: null,
  hcExpect: null,
  hcIntervalMs: 1000,
  hcTimeoutMs: 500,
  hcRise: 2,
  hcFall: 3,
  draft: false,
} as const;

// Few addresses, so that nodes share them; two spellings of one IPv6 address.
const POOL = ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4', '2001:db8::1', '2001:DB8:0:0::1'];
const IDS = ['n0', 'n1', 'n2', 'n3', 'n4'];

const service = (
  name: string,
  vip: string,
  mode: 'l2' | 'l3',
  backends: { address: string; nodeId: string | null }[],
  balancers: string[],
) =>
  ({
    ...columns,
    name,
    vip,
    mode,
    balancerNodeIds: balancers,
    backends: backends.map((b) => ({ ...b, port: null, weight: 1, state: 'active' as const })),
  }) satisfies ServiceRow;

const arbNode = (id: string) =>
  fc.record({
    id: fc.constant(id),
    role: fc.constantFrom('balancer' as const, 'backend' as const, 'both' as const),
    addresses: fc.uniqueArray(fc.constantFrom(...POOL), { maxLength: 2 }),
  });

const arbService = (i: number) =>
  fc
    .record({
      mode: fc.constantFrom('l2' as const, 'l3' as const),
      backends: fc.array(
        fc.record({
          // IPv4: L3 tunnels carry a backend's IPv4 address.
          address: fc.constantFrom(...POOL.filter((a) => !a.includes(':')), '10.9.9.9'),
          nodeId: fc.option(fc.constantFrom(...IDS), { freq: 4 }),
        }),
        { maxLength: 3 },
      ),
      balancers: fc.uniqueArray(fc.constantFrom(...IDS), { maxLength: 2 }),
    })
    .map((s) =>
      service(
        `s${i}`,
        `10.97.0.${i + 1}`,
        s.mode,
        // One row per address in a service, as the database keeps them.
        s.backends.filter((b, k) => s.backends.findIndex((o) => o.address === b.address) === k),
        s.balancers,
      ),
    );

/** Hashes by node, with `only` compiling just those. */
const hashes = (nodes: NodeRow[], services: ServiceRow[], only?: Set<string>) =>
  new Map([...compileNodes(nodes, services, only)].map(([id, d]) => [id, d.hash]));

describe('nodesAffected', () => {
  it('covers every document that a new node or new addresses change, and compiling only those gives the same documents', () => {
    fc.assert(
      fc.property(
        fc.tuple(...IDS.map(arbNode)),
        fc.tuple(arbService(0), arbService(1), arbService(2)),
        fc.integer({ min: 0, max: 2 }),
        // For each changed node: absent before (new), or its addresses before.
        fc.array(
          fc.record({ node: fc.constantFrom(...IDS), before: fc.option(fc.uniqueArray(fc.constantFrom(...POOL), { maxLength: 2 })) }),
          {
            minLength: 1,
            maxLength: 2,
          },
        ),
        (after, allServices, serviceCount, edits) => {
          const services = allServices.slice(0, serviceCount + 1);
          const byId = new Map(edits.map((e) => [e.node, e.before]));
          const before = after.flatMap((n) => {
            if (!byId.has(n.id)) return [n];
            const was = byId.get(n.id);
            return was === null ? [] : [{ ...n, addresses: was! }];
          });
          const changes: NodeChange[] = [...byId].map(([nodeId, was]) => ({
            nodeId,
            addresses: [...(was ?? []), ...after.find((n) => n.id === nodeId)!.addresses],
          }));
          const old = hashes(before, services);
          const all = hashes(after, services);
          const affected = nodesAffected(after, services, changes);
          if (affected === undefined) return;
          for (const [id, hash] of all) if (old.get(id) !== hash) expect(affected, `node ${id}'s document changed`).toContain(id);
          const some = hashes(after, services, affected);
          expect([...some.keys()].sort()).toEqual([...affected].sort());
          for (const [id, hash] of some) expect(hash).toBe(all.get(id));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is the changed node alone when it balances nothing and shares no address, and everyone otherwise', () => {
    const nodes: NodeRow[] = [
      { id: 'lb', role: 'balancer', addresses: ['10.1.0.1'] },
      { id: 'b1', role: 'backend', addresses: ['10.1.0.2'] },
      { id: 'new', role: 'both', addresses: ['10.1.0.3'] },
    ];
    const services = [service('web', '10.97.0.1', 'l3', [{ address: '10.1.0.3', nodeId: null }], ['lb'])];
    expect(nodesAffected(nodes, services, [{ nodeId: 'new', addresses: ['10.1.0.3'] }])).toEqual(new Set(['new']));
    // A balancer's addresses are in its backends' documents.
    expect(nodesAffected(nodes, services, [{ nodeId: 'lb', addresses: ['10.1.0.1', '10.1.0.9'] }])).toBeUndefined();
    // b1 has an address the new node had: which node serves it may move.
    expect(nodesAffected(nodes, services, [{ nodeId: 'new', addresses: ['10.1.0.2', '10.1.0.3'] }])).toBeUndefined();
  });
});
