import { describe, expect, it } from 'vitest';
import { compileNodes, type ServiceRow } from './compile.ts';
import { advanceRollout, planBatches, revisionForNode, stagedServiceRows, type RolloutProgress } from './rollout.ts';

const t0 = new Date('2026-12-01T12:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const start: RolloutProgress = { status: 'running', batch: 0, holdUntil: null, reason: null };
const plan = { batches: 3, holdSeconds: 60 };

describe('planBatches', () => {
  it('puts the canary alone first, then the rest in batches', () => {
    expect(planBatches(['e', 'b', 'd', 'a', 'c'], { canary: 'c', batchSize: 2 })).toEqual([['c'], ['a', 'b'], ['d', 'e']]);
    expect(planBatches(['b', 'a'], { batchSize: 10 })).toEqual([['a'], ['b']]);
    expect(planBatches(['a'], { batchSize: 1 })).toEqual([['a']]);
  });

  it('refuses a canary that is not a balancer of the service, and an empty fleet', () => {
    expect(() => planBatches(['a', 'b'], { canary: 'z', batchSize: 1 })).toThrow(/not one of/);
    expect(() => planBatches([], { batchSize: 1 })).toThrow(/at least one/);
    expect(() => planBatches(['a'], { batchSize: 0 })).toThrow(/batchSize/);
  });
});

describe('advanceRollout', () => {
  it('holds each batch once it has applied, then moves on, and completes after the last', () => {
    let r = advanceRollout(start, { kind: 'tick', now: at(0), batchApplied: false }, plan);
    expect(r).toEqual(start);
    r = advanceRollout(r, { kind: 'tick', now: at(5), batchApplied: true }, plan);
    expect(r.holdUntil).toEqual(at(65));
    expect(advanceRollout(r, { kind: 'tick', now: at(64), batchApplied: true }, plan)).toEqual(r);
    r = advanceRollout(r, { kind: 'tick', now: at(65), batchApplied: true }, plan);
    expect(r).toEqual({ ...start, batch: 1 });
    r = advanceRollout(r, { kind: 'tick', now: at(70), batchApplied: true }, plan);
    r = advanceRollout(r, { kind: 'tick', now: at(130), batchApplied: true }, plan);
    expect(r.batch).toBe(2);
    r = advanceRollout(r, { kind: 'tick', now: at(131), batchApplied: true }, plan);
    r = advanceRollout(r, { kind: 'tick', now: at(191), batchApplied: true }, plan);
    expect(r).toEqual({ status: 'completed', batch: 2, holdUntil: null, reason: null });
  });

  it('stops at a regression and restores the previous revision on the nodes that took the new one', () => {
    const holding = advanceRollout(start, { kind: 'tick', now: at(1), batchApplied: true }, plan);
    const stopped = advanceRollout(holding, { kind: 'regression', reason: 'lb1: NACK (nft: syntax error)' }, plan);
    expect(stopped).toMatchObject({ status: 'rolled_back', reason: 'lb1: NACK (nft: syntax error)' });
    const revisions = { toRevision: 7, fromRevision: 6 };
    expect([0, 1, 2].map((b) => revisionForNode({ ...holding, ...revisions }, b))).toEqual([7, 6, 6]);
    expect([0, 1, 2].map((b) => revisionForNode({ ...stopped, ...revisions }, b))).toEqual([6, 6, 6]);
    // A finished rollout does not move again.
    expect(advanceRollout(stopped, { kind: 'resume' }, plan)).toBe(stopped);
    expect(advanceRollout(stopped, { kind: 'tick', now: at(1000), batchApplied: true }, plan)).toBe(stopped);
  });

  it('pauses without moving on, resumes with a fresh hold, and aborts back to the previous revision', () => {
    const holding = advanceRollout(start, { kind: 'tick', now: at(1), batchApplied: true }, plan);
    const paused = advanceRollout(holding, { kind: 'pause' }, plan);
    expect(advanceRollout(paused, { kind: 'tick', now: at(1000), batchApplied: true }, plan)).toEqual(paused);
    const resumed = advanceRollout(paused, { kind: 'resume' }, plan);
    expect(resumed).toMatchObject({ status: 'running', batch: 0, holdUntil: null });
    const aborted = advanceRollout(resumed, { kind: 'abort', by: 'ada@example.com' }, plan);
    expect(aborted).toMatchObject({ status: 'aborted', reason: 'aborted by ada@example.com' });
    expect(revisionForNode({ ...aborted, toRevision: 3, fromRevision: 2 }, 0)).toBe(2);
    expect(revisionForNode({ ...aborted, status: 'completed', toRevision: 3, fromRevision: 2 }, 5)).toBe(3);
  });
});

describe('compiling a service under a staged rollout', () => {
  const columns = {
    name: 'web',
    vip: '10.97.0.100',
    portStart: 80,
    portEnd: 80,
    protocol: 'tcp',
    mode: 'l3',
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
  } as const;
  const backend = (address: string) => ({ address, port: null, weight: 1, state: 'active' as const, nodeId: null });
  const nodes = [
    { id: 'lb1', role: 'balancer' as const, addresses: ['10.99.0.2'] },
    { id: 'lb2', role: 'balancer' as const, addresses: ['10.99.0.3'] },
    { id: 'b1', role: 'backend' as const, addresses: ['10.99.0.11'] },
    { id: 'b2', role: 'backend' as const, addresses: ['10.99.0.12'] },
  ];
  const previous: ServiceRow = {
    ...columns,
    draft: false,
    balancerNodeIds: ['lb1', 'lb2'],
    backends: [backend('10.99.0.11'), backend('10.99.0.12')],
  };
  const current: ServiceRow = { ...previous, backends: [backend('10.99.0.11')] };
  const backendsOf = (doc: { state: unknown }) => JSON.stringify(doc.state).match(/"address":"[\d.]+"/g);

  it('gives the reached balancers the new revision and the others the previous one; backends serve both', () => {
    const staged = compileNodes(nodes, stagedServiceRows(current, previous, new Set(['lb2'])));
    expect(backendsOf(staged.get('lb1')!)).toEqual(['"address":"10.99.0.11"']);
    expect(backendsOf(staged.get('lb2')!)).toEqual(['"address":"10.99.0.11"', '"address":"10.99.0.12"']);
    // b2 left the new revision but lb2 still sends to it: it keeps the VIP, with lb2 as its tunnel peer.
    expect(JSON.stringify(staged.get('b2')!.state)).toContain('"balancers":["10.99.0.3"]');
    expect(compileNodes(nodes, [current]).get('b2')!.state).toEqual({ apiVersion: 'tula/v1', backend: { vips: [] } });
    expect(staged.get('b1')!.hash).toBe(compileNodes(nodes, [previous]).get('b1')!.hash);
    // Nothing left to hold back: every node compiles exactly as without a rollout.
    const done = compileNodes(nodes, stagedServiceRows(current, previous, new Set()));
    const plain = compileNodes(nodes, [current]);
    for (const n of ['lb1', 'lb2', 'b1']) expect(done.get(n)!.hash).toBe(plain.get(n)!.hash);
  });
});
