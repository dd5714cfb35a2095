import { describe, expect, it } from 'vitest';
import { actionLabel, agentActorLabel, AUDIT_ACTIONS, describeAuditData } from './audit.ts';

describe('the audit log in words', () => {
  it('names every action, and shows an unknown one as its code', () => {
    expect(actionLabel('service.update')).toBe('changed service');
    expect(actionLabel('node.drift_repaired')).toBe('repaired drift on node');
    expect(actionLabel('something.new')).toBe('something.new');
    expect(Object.values(AUDIT_ACTIONS).every((l) => l.length > 0 && !l.includes('.'))).toBe(true);
  });

  it('turns stored details into lines a person reads', () => {
    expect(describeAuditData('member.set_role', { role: 'admin' })).toEqual(['role → admin']);
    expect(describeAuditData('backend.drain', { address: '10.0.0.2' })).toEqual(['backend 10.0.0.2 → draining']);
    expect(describeAuditData('backend.weight', { address: '10.0.0.2', weight: 3 })).toEqual(['backend 10.0.0.2 weight → 3']);
    expect(describeAuditData('rollout.rolled_back', { toRevision: 4, restoredNumber: 3, reason: 'backend 10.0.0.2 failing' })).toEqual([
      'revision 4 withdrawn',
      'revision 3 restored',
      'why: backend 10.0.0.2 failing',
    ]);
    expect(describeAuditData('node.enroll', { name: 'lb-1', token: 'tenr_ab12' })).toEqual(['as lb-1', 'with enrollment token tenr_ab12…']);
    expect(describeAuditData('token.create', { maxUses: 1, expiresAt: '2026-12-05T10:00:00.000Z' })).toEqual([
      'up to 1 node',
      'expires 2026-12-05',
    ]);
    expect(describeAuditData('api_token.create', { name: 'ci', role: 'viewer', expiresAt: null })).toEqual([
      'role viewer',
      'never expires',
    ]);
    expect(describeAuditData('member.invite', { email: 'bo@example.com', role: 'viewer' })).toEqual(['bo@example.com', 'as viewer']);
  });

  it('states the trial the way the banner does: the date it ends', () => {
    expect(describeAuditData('organization.create', { trialEndsAt: '2026-12-18T09:00:00.000Z' })).toEqual(['free trial until 2026-12-18']);
    expect(describeAuditData('organization.trial_extend', { trialEndsAt: '2027-12-04T09:00:00.000Z', reason: 'local lab demo' })).toEqual([
      'free trial until 2027-12-04',
      'local lab demo',
    ]);
    // Older events stored only the length.
    expect(describeAuditData('organization.create', { trial: '14 days' })).toEqual(['free trial of 14 days']);
  });

  it('states announcement settings in words, not as JSON', () => {
    const bgp = { localAsn: 65001, routerId: '10.99.0.3', peers: ['10.99.0.1 AS65000', '10.99.0.9 AS65009'] };
    expect(describeAuditData('node.set_announce', { bgp })).toEqual([
      'BGP: local AS 65001, router id 10.99.0.3',
      'BGP peers: 10.99.0.1 AS65000, 10.99.0.9 AS65009',
    ]);
    const vrrp = { interface: 'eth1', virtualRouterId: 51, priority: 100, advertIntervalMs: 1000 };
    expect(describeAuditData('node.set_announce', { vrrp })).toEqual([
      'VRRP: interface eth1, virtual router 51, priority 100, advert every 1000 ms',
    ]);
    expect(describeAuditData('node.set_announce', { cleared: true })).toEqual(['announces nothing (BGP and VRRP off)']);
  });

  it('leaves out what the row says elsewhere (the service name) and shows unknown keys as they are', () => {
    expect(describeAuditData('service.update', { name: 'shop' })).toEqual([]);
    expect(describeAuditData('service.update', { name: 'shop', staged: { batches: 2 } })).toEqual(['staged: canary first, then batches']);
    expect(describeAuditData('test.thing', { extra: 1, nested: { a: 1 }, gone: null })).toEqual(['extra 1', 'nested {"a":1}']);
    expect(describeAuditData('member.remove', 'not an object')).toEqual([]);
  });

  it('names an agent by its node', () => {
    expect(agentActorLabel('agent on host-7', 'lb-1')).toBe('agent on lb-1');
    expect(agentActorLabel('agent on host-7', undefined)).toBe('agent on host-7');
  });
});
