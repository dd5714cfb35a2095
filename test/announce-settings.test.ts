// Issue 16 in the panel, on a real PostgreSQL database: a node's announcement
// settings are validated with errors that name the field, compiled into the
// balancer's document, audited without the password, and the password never
// comes back nor lies in the database in plain text (sealed, opened for the agent); drain and undrain set `draining` in the document, are audited,
// and a drain reads as done only once the agent reports it withdrawn and idle.
import { bgpPasswordBox, openDocumentPasswords, recompileOrganization, sealStoredPeerPasswords } from '@tula/control';
import { type Database } from '@tula/db';
import type { ServiceInput } from '@tula/validators';
import { beforeAll, describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import { balancerNode, memberCaller, useTestApiDatabase, TEST_AUTH_SECRET, type Caller } from './support/caller.ts';
import { testBackend, testService } from './support/service-input.ts';

let db: Database;
let api: Caller;
let other: Caller;
let org: string;
let lb1: string;
let lb2: string;

const bgp = {
  localAsn: 65001,
  routerId: '10.9.0.1',
  peers: [{ address: '10.9.0.254', asn: 65000, password: 's3cret-md5', holdTimeS: 9, bfd: true }],
};
const vrrp = { interface: 'e0', virtualRouterId: 51, priority: 150, advertIntervalMs: 500 };

function service(extra: Partial<ServiceInput>): ServiceInput {
  return testService({
    vip: '10.9.9.10',
    mode: 'l3',
    tunnel: 'ipip',
    balancerNodeIds: [lb1, lb2],
    backends: [testBackend('10.0.0.1')],
    ...extra,
  });
}

async function documentOf(id: string) {
  const n = await db.prisma.node.findUniqueOrThrow({ where: { id }, select: { desiredState: true } });
  return n.desiredState as { balancer?: { announce?: unknown; draining?: boolean } };
}

/** A refused call's message as a client reads it: the error formatter names each field ("path: problem"). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof ZodError) return cause.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    return (err as Error).message;
  }
  throw new Error('the call was accepted');
}

const testApi = useTestApiDatabase();
beforeAll(async () => {
  db = testApi.db;
  ({ api, organizationId: org } = await memberCaller(db, { name: 'Ada Operator' }));
  ({ api: other } = await memberCaller(db, { name: 'Other Org' }));
  lb1 = (await balancerNode(db, org, 'lb1', '10.9.0.1')).id;
  lb2 = (await balancerNode(db, org, 'lb2', '10.9.0.2')).id;
  await api.services.create(service({}));
});

describe('announcement settings', () => {
  it('compiles them into the balancer document, audits them without the password, and never returns the password', async () => {
    await api.nodes.setAnnounce({ id: lb1, announce: { bgp } });
    const doc = await documentOf(lb1);
    // The database holds the password sealed only: neither the settings nor the compiled document carry it.
    const row = await db.prisma.node.findUniqueOrThrow({ where: { id: lb1 }, select: { announce: true, desiredState: true } });
    expect(JSON.stringify(row)).not.toContain('s3cret-md5');
    const stored = (row.announce as { bgp: { peers: { password: string }[] } }).bgp.peers[0]!.password;
    expect(stored).toMatch(/^v1\./);
    // The agent needs the password: the document as the gateway sends it carries it, opened.
    expect(openDocumentPasswords(doc, bgpPasswordBox(TEST_AUTH_SECRET)).balancer?.announce).toEqual({
      bgp: { ...bgp, peers: [{ ...bgp.peers[0] }] },
    });
    // Under another auth secret it does not open.
    expect(() => openDocumentPasswords(doc, bgpPasswordBox('another auth secret'))).toThrow();
    expect((await documentOf(lb2)).balancer?.announce).toBeUndefined();

    const node = await api.nodes.get({ id: lb1 });
    expect(node.announce).toEqual({
      bgp: { ...bgp, peers: [{ address: '10.9.0.254', asn: 65000, holdTimeS: 9, bfd: true, hasPassword: true }] },
    });
    expect(JSON.stringify(node)).not.toContain('s3cret-md5');
    const audit = await db.prisma.auditEvent.findMany({ where: { organizationId: org, action: 'node.set_announce' } });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit[0]!.data)).not.toContain('s3cret-md5');
    expect(audit[0]!.data).toMatchObject({ bgp: { localAsn: 65001, peers: ['10.9.0.254 AS65000'] } });
  });

  it('seals a password stored in plain text before sealing existed, when the panel starts', async () => {
    // As an older panel left it: the password in plain text in the settings and the compiled document.
    await db.prisma.node.update({ where: { id: lb2 }, data: { announce: { bgp: { ...bgp, routerId: '10.9.0.2' } } } });
    await recompileOrganization(db.prisma, org);
    expect(JSON.stringify(await documentOf(lb2))).toContain('s3cret-md5');
    const changed = await sealStoredPeerPasswords(db, bgpPasswordBox(TEST_AUTH_SECRET));
    expect(changed).toEqual([{ organizationId: org, nodeIds: [lb2] }]);
    const row = await db.prisma.node.findUniqueOrThrow({ where: { id: lb2 }, select: { announce: true, desiredState: true } });
    expect(JSON.stringify(row)).not.toContain('s3cret-md5');
    expect(openDocumentPasswords(await documentOf(lb2), bgpPasswordBox(TEST_AUTH_SECRET)).balancer?.announce).toMatchObject({
      bgp: { peers: [{ password: 's3cret-md5' }] },
    });
    // Once sealed, nothing more to do.
    expect(await sealStoredPeerPasswords(db, bgpPasswordBox(TEST_AUTH_SECRET))).toEqual([]);
    await api.nodes.setAnnounce({ id: lb2, announce: null });
  });

  it('keeps the stored password when the form says so, and drops it when not', async () => {
    const { password: _, ...peer } = bgp.peers[0]!;
    await api.nodes.setAnnounce({ id: lb1, announce: { bgp: { ...bgp, peers: [{ ...peer, holdTimeS: 30, keepPassword: true }] } } });
    const kept = openDocumentPasswords(await documentOf(lb1), bgpPasswordBox(TEST_AUTH_SECRET));
    expect(kept.balancer?.announce).toMatchObject({ bgp: { peers: [{ password: 's3cret-md5', holdTimeS: 30 }] } });
    await api.nodes.setAnnounce({ id: lb1, announce: { bgp: { ...bgp, peers: [peer] } } });
    expect((await api.nodes.get({ id: lb1 })).announce?.bgp?.peers[0]?.hasPassword).toBe(false);
  });

  it.each([
    ['a wrong ASN', { bgp: { ...bgp, localAsn: 0 } }, 'announce.bgp.localAsn: must be an AS number from 1 to 4294967294'],
    [
      'AS_TRANS for a peer',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], asn: 23456 }] } },
      'announce.bgp.peers.0.asn: AS 23456 (AS_TRANS) is reserved',
    ],
    ['a VRRP priority out of range', { vrrp: { ...vrrp, priority: 255 } }, 'announce.vrrp.priority: must be from 1 to 254'],
    ['a router id that is not IPv4', { bgp: { ...bgp, routerId: '2001:db8::1' } }, 'announce.bgp.routerId: must be an IPv4 address'],
    [
      'a peer that is the router id',
      { bgp: { ...bgp, peers: [{ ...bgp.peers[0], address: '10.9.0.1' }] } },
      "announce.bgp.peers.0.address: is this balancer's own router id",
    ],
  ])('refuses %s with the field named, and changes nothing', async (_, announce, expected) => {
    const before = await db.prisma.node.findUniqueOrThrow({ where: { id: lb1 }, select: { announce: true, desiredVersion: true } });
    expect(await refusal(api.nodes.setAnnounce({ id: lb1, announce: announce as never }))).toContain(expected);
    const after = await db.prisma.node.findUniqueOrThrow({ where: { id: lb1 }, select: { announce: true, desiredVersion: true } });
    expect(after).toEqual(before);
  });

  it("another organisation's node is not found", async () => {
    expect(await refusal(other.nodes.setAnnounce({ id: lb1, announce: { vrrp } }))).toContain('No such node');
    expect(await refusal(other.nodes.drain({ id: lb1 }))).toContain('No balancer');
  });

  it('clears them', async () => {
    await api.nodes.setAnnounce({ id: lb2, announce: { vrrp } });
    expect((await documentOf(lb2)).balancer?.announce).toEqual({ vrrp });
    await api.nodes.setAnnounce({ id: lb2, announce: null });
    expect((await documentOf(lb2)).balancer?.announce).toBeUndefined();
    expect((await api.nodes.get({ id: lb2 })).announce).toBeNull();
  });
});

describe('drain', () => {
  it('sets draining in the document, and reads as drained only after the agent reports it withdrawn and idle', async () => {
    await api.nodes.drain({ id: lb1, timeoutS: 600 });
    expect((await documentOf(lb1)).balancer?.draining).toBe(true);
    expect((await documentOf(lb2)).balancer?.draining).toBeUndefined();
    expect((await api.nodes.get({ id: lb1 })).drain).toBe('draining');

    // The agent applied the draining document and reports: withdrawn, but traffic still arrives.
    const n = await db.prisma.node.findUniqueOrThrow({ where: { id: lb1 }, select: { desiredHash: true } });
    const report = (idle: boolean) => ({
      vips: [{ vip: '10.9.9.10', via: 'bgp', fit: false, reason: 'draining' }],
      bgp: { running: true, peers: [{ address: '10.9.0.254', established: true, state: 'up', info: 'Established' }] },
      errors: [],
      idle,
    });
    await db.prisma.node.update({
      where: { id: lb1 },
      data: { appliedHash: n.desiredHash, statusAt: new Date(Date.now() + 1000), announceState: report(false) },
    });
    expect((await api.nodes.get({ id: lb1 })).drain).toBe('draining');
    const svc = (await api.services.list()).find((s) => s.name === 'web')!;
    expect(svc.balancers.find((b) => b.node.id === lb1)).toMatchObject({
      node: { drain: 'draining' },
      announce: { via: 'bgp', announced: false, reason: 'draining', peersEstablished: 1, peers: 1 },
    });
    await db.prisma.node.update({ where: { id: lb1 }, data: { announceState: report(true) } });
    expect((await api.nodes.get({ id: lb1 })).drain).toBe('drained');

    await api.nodes.undrain({ id: lb1 });
    expect((await documentOf(lb1)).balancer?.draining).toBeUndefined();
    expect((await api.nodes.get({ id: lb1 })).drain).toBe('active');
    const actions = (
      await db.prisma.auditEvent.findMany({ where: { organizationId: org, targetId: lb1 }, orderBy: { createdAt: 'asc' } })
    ).map((e) => e.action);
    expect(actions.slice(-2)).toEqual(['node.drain', 'node.undrain']);
  });

  it('reads as drained after the timeout even with traffic still arriving', async () => {
    await api.nodes.drain({ id: lb2, timeoutS: 5 });
    await db.prisma.node.update({ where: { id: lb2 }, data: { drainingSince: new Date(Date.now() - 6000) } });
    expect((await api.nodes.get({ id: lb2 })).drain).toBe('drained (timeout)');
  });
});
