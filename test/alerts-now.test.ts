// The notification list says where each alert stands now, not only what it
// said when raised: a backend that went down and came back, twice (flapping),
// leaves no "firing" row; the rows it left say when each was resolved. An alert
// whose subject was removed, or whose rule was turned off, ends and says why.
// Real PostgreSQL, the evaluator the panel's ticker runs, the API's list procedure.
import { evaluateAlerts, evaluateOrganization } from '@tula/api';
import type { Database } from '@tula/db';
import { describe, expect, it } from 'vitest';
import { balancerNode, memberCaller, reportStatus, useTestApiDatabase } from './support/caller.ts';
import { testBackend, testService } from './support/service-input.ts';

const test = useTestApiDatabase();

/** The balancer reports these backends of `web` failing (none: all passing), online, its document applied. */
const reportFailing = (db: Database, nodeId: string, failing: string[]) => reportStatus(db, nodeId, { failing });

describe('alerts now', () => {
  it('a flapping backend leaves one firing row at most, and none once it recovered', async () => {
    const { db } = test;
    const { api, organizationId: org } = await memberCaller(db, { name: 'Ada Flapping' });
    const lb = await balancerNode(db, org, 'lb1', '10.71.0.1');
    await api.services.create(
      testService({ name: 'web', vip: '10.71.0.100', balancerNodeIds: [lb.id], backends: [testBackend('10.71.0.11')] }),
    );
    // The balancer reports the backend failing or not.
    const step = async (failing: boolean) => {
      await reportFailing(db, lb.id, failing ? ['10.71.0.11'] : []);
      return evaluateOrganization(db, org, 'http://127.0.0.1:1');
    };
    await step(false);
    // down, up, down, up: the condition flapped twice.
    for (const failing of [true, false, true, false]) await step(failing);

    const backendRows = (await api.alerts.list({ limit: 50 })).items.filter((a) => a.kind === 'backend_down').reverse();
    expect(backendRows.map((a) => [a.state, a.now])).toEqual([
      ['firing', 'resolved'],
      ['resolved', 'recovery'],
      ['firing', 'resolved'],
      ['resolved', 'recovery'],
    ]);
    // Each firing row was resolved by the recovery right after it.
    expect(backendRows[0]!.endedAt).toEqual(backendRows[1]!.createdAt);
    expect(backendRows[2]!.endedAt).toEqual(backendRows[3]!.createdAt);
    expect((await api.alerts.list({ limit: 50 })).firingNow).toBe(0);

    // Down once more: that one row (and only it) fires now, also among the unacknowledged only.
    await step(true);
    const list = await api.alerts.list({ limit: 50 });
    expect(
      list.items
        .filter((a) => a.now === 'firing')
        .map((a) => a.title)
        .sort(),
    ).toEqual(['Backend 10.71.0.11 of web is down', 'Service web is down: every backend is failing']);
    expect(list.firingNow).toBe(2);
    // Acknowledging the recoveries does not make the older firing rows look current again.
    for (const a of list.items.filter((x) => x.state === 'resolved')) await api.alerts.acknowledge({ id: a.id });
    const open = await api.alerts.list({ unacknowledged: true, limit: 50 });
    expect(open.items.filter((a) => a.kind === 'backend_down').map((a) => a.now)).toEqual(['firing', 'resolved', 'resolved']);
  });

  it('a backend disabled while down is no longer watched: its alert ends, saying so', async () => {
    const { db } = test;
    const { api, organizationId: org } = await memberCaller(db, { name: 'Ada Disabled' });
    const lb = await balancerNode(db, org, 'lb4', '10.71.0.4');
    const svc = await api.services.create(
      testService({
        name: 'web',
        vip: '10.71.0.102',
        balancerNodeIds: [lb.id],
        backends: [testBackend('10.71.0.31'), testBackend('10.71.0.32')],
      }),
    );
    // The balancer reports 10.71.0.31 failing, after each change it applied.
    const report = async () => {
      await reportFailing(db, lb.id, ['10.71.0.31']);
      return evaluateOrganization(db, org, 'http://127.0.0.1:1');
    };
    await report();
    const down = (await api.alerts.list({ limit: 50 })).items.find((a) => a.title === 'Backend 10.71.0.31 of web is down')!;
    expect(down.now).toBe('firing');

    await api.services.setBackendState({ serviceId: svc.id, address: '10.71.0.31', state: 'disabled' });
    await report();
    const list = await api.alerts.list({ limit: 50 });
    const after = list.items.find((a) => a.id === down.id)!;
    expect([after.now, after.endReason]).toEqual(['ended', 'backend disabled']);
    expect(list.items.find((a) => a.key === down.key && a.state === 'ended')?.title).toBe(
      'Backend 10.71.0.31 of web: alert ended, backend disabled',
    );
    expect(list.firingNow).toBe(0);
    // Ended once: another tick writes nothing more.
    expect(await report()).toEqual([]);
  });

  it('a NACK with a new error replaces the one before; drift is an event, never left firing', async () => {
    const { db } = test;
    const { api, organizationId: org } = await memberCaller(db, { name: 'Ada Nack' });
    const lb = await balancerNode(db, org, 'lb2', '10.71.0.2');
    const nack = async (error: string) => {
      await db.prisma.node.update({ where: { id: lb.id }, data: { lastError: error } });
      return evaluateOrganization(db, org, 'http://127.0.0.1:1');
    };
    await nack('version 2: nft: syntax error');
    await nack('version 3: nft: no such file');
    await db.prisma.node.update({ where: { id: lb.id }, data: { lastDriftAt: new Date(), lastDrift: ['map lut: 1 element missing'] } });
    await nack('version 3: nft: no such file');
    const rows = (await api.alerts.list({ limit: 50 })).items.reverse();
    expect(rows.map((a) => [a.kind, a.now])).toEqual([
      ['nack', 'replaced'],
      ['nack', 'firing'],
      ['drift', 'event'],
    ]);
    expect(rows[0]!.endedAt).toEqual(rows[1]!.createdAt);
  });

  it('a backend removed while down, then its service deleted, ends their alerts: not firing, and says why and when', async () => {
    const { db } = test;
    const { api, organizationId: org } = await memberCaller(db, { name: 'Ada Removed' });
    const lb = await balancerNode(db, org, 'lb3', '10.71.0.3');
    const backends = [testBackend('10.71.0.21'), testBackend('10.71.0.22')];
    const svc = await api.services.create(testService({ name: 'web', vip: '10.71.0.101', balancerNodeIds: [lb.id], backends }));
    await reportFailing(db, lb.id, ['10.71.0.21', '10.71.0.22']);
    await evaluateOrganization(db, org, 'http://127.0.0.1:1');
    expect((await api.alerts.list({ limit: 50 })).firingNow).toBe(3);

    // 10.71.0.21 leaves the service while still failing; the balancer applies the new document and reports 10.71.0.22 failing.
    await api.services.update({
      id: svc.id,
      service: testService({ name: 'web', vip: '10.71.0.101', balancerNodeIds: [lb.id], backends: [backends[1]!] }),
    });
    await reportFailing(db, lb.id, ['10.71.0.22']);
    await evaluateOrganization(db, org, 'http://127.0.0.1:1');
    const afterRemoval = await api.alerts.list({ limit: 50 });
    const raisedFor = (list: typeof afterRemoval, title: string) => list.items.find((a) => a.state === 'firing' && a.title === title)!;
    const removed = raisedFor(afterRemoval, 'Backend 10.71.0.21 of web is down');
    expect([removed.now, removed.endReason]).toEqual(['ended', 'backend removed']);
    const end = afterRemoval.items.find((a) => a.key === removed.key && a.state === 'ended')!;
    expect(end.now).toBe('end');
    expect(removed.endedAt).toEqual(end.createdAt);
    expect(raisedFor(afterRemoval, 'Backend 10.71.0.22 of web is down').now).toBe('firing');
    expect(afterRemoval.firingNow).toBe(2);

    // The service goes: both of its remaining alerts end.
    await api.services.delete({ id: svc.id });
    await evaluateOrganization(db, org, 'http://127.0.0.1:1');
    const afterDelete = await api.alerts.list({ limit: 50 });
    expect(
      afterDelete.items
        .filter((a) => a.state === 'firing')
        .map((a) => [a.title, a.now, a.endReason])
        .sort(),
    ).toEqual([
      ['Backend 10.71.0.21 of web is down', 'ended', 'backend removed'],
      ['Backend 10.71.0.22 of web is down', 'ended', 'service deleted'],
      ['Service web is down: every backend is failing', 'ended', 'service deleted'],
    ]);
    expect(afterDelete.firingNow).toBe(0);
    // Ended once: another tick writes nothing more.
    expect(await evaluateOrganization(db, org, 'http://127.0.0.1:1')).toEqual([]);
  });

  it('turning every rule off ends the firing alerts; turning one on again fires anew; a revoked node ends its own', async () => {
    const { db } = test;
    const { api, organizationId: org } = await memberCaller(db, { name: 'Ada Rules' });
    const lb = await balancerNode(db, org, 'lb4', '10.71.0.4');
    // Never called: the deliveries are only queued here.
    await api.webhooks.create({ name: 'pager', url: 'http://127.0.0.1:1/hook', format: 'json' });
    await db.prisma.node.update({ where: { id: lb.id }, data: { lastError: 'version 2: nft: syntax error' } });
    await evaluateOrganization(db, org, 'http://127.0.0.1:1');
    expect((await api.alerts.list({ limit: 50 })).firingNow).toBe(1);

    const rules = await api.alerts.rules();
    for (const r of rules) await api.alerts.updateRule({ id: r.id, enabled: false });
    // The ticker's own entry point: an organisation with no rule left on is still visited to end what fired.
    await evaluateAlerts(db, 'http://127.0.0.1:1');
    const off = await api.alerts.list({ limit: 50 });
    expect(off.items.map((a) => [a.kind, a.state, a.now, a.endReason])).toEqual([
      ['nack', 'ended', 'end', null],
      ['nack', 'firing', 'ended', 'rule turned off'],
    ]);
    expect(off.firingNow).toBe(0);
    // A receiver closes the incident as for a recovery, and reads why.
    const [closing] = await db.prisma.alertDelivery.findMany({ where: { alertId: off.items[0]!.id } });
    expect(closing!.payload).toMatchObject({ state: 'resolved', data: { reason: 'rule turned off' } });

    const nackRule = rules.find((r) => r.kind === 'nack')!;
    await api.alerts.updateRule({ id: nackRule.id, enabled: true });
    await evaluateOrganization(db, org, 'http://127.0.0.1:1');
    const again = await api.alerts.list({ limit: 50 });
    expect(again.items.map((a) => [a.state, a.now])).toEqual([
      ['firing', 'firing'],
      ['ended', 'end'],
      ['firing', 'ended'],
    ]);

    await api.nodes.revoke({ id: lb.id });
    await evaluateOrganization(db, org, 'http://127.0.0.1:1');
    const revoked = await api.alerts.list({ limit: 50 });
    expect([revoked.items[1]!.now, revoked.items[1]!.endReason]).toEqual(['ended', 'node revoked']);
    expect(revoked.firingNow).toBe(0);
  });
});
