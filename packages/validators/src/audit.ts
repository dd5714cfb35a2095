// The audit log as people read it: what each action means in words, and what an
// event's stored details say, one line each ("role viewer → admin", "batch 2").
// Pure: the names of targets and actors are looked up by the caller.

/** Every action the panel, the gateway and the rollout ticker record, in words; also the audit log's "what" filter. */
export const AUDIT_ACTIONS = {
  'service.create': 'created service',
  'service.update': 'changed service',
  'service.delete': 'deleted service',
  'service.rollback': 'rolled back service',
  'backend.activate': 'activated a backend of',
  'backend.drain': 'drained a backend of',
  'backend.disable': 'disabled a backend of',
  'backend.weight': 'set a backend weight of',
  'rollout.pause': 'paused the staged rollout of',
  'rollout.resume': 'resumed the staged rollout of',
  'rollout.abort': 'aborted the staged rollout of',
  'rollout.advance': 'moved on the staged rollout of',
  'rollout.complete': 'completed the staged rollout of',
  'rollout.rolled_back': 'rolled back the staged rollout of',
  'node.enroll': 'enrolled node',
  'node.set_role': 'changed the role of node',
  'node.rotate_credential': 'asked for a new credential of node',
  'node.revoke': 'revoked node',
  'node.delete': 'deleted node',
  'node.drift_repaired': 'repaired drift on node',
  'node.set_announce': 'changed the announcement settings of node',
  'node.drain': 'drained balancer',
  'node.undrain': 'undrained balancer',
  'node.upgrade': 'asked for an agent upgrade of node',
  'lab.kill_balancer': 'killed lab balancer',
  'lab.restore_balancer': 'brought back lab balancer',
  'node.upgrade_failed': 'saw the agent upgrade fail on node',
  'token.create': 'created enrollment token',
  'token.revoke': 'revoked enrollment token',
  'api_token.create': 'created API token',
  'api_token.revoke': 'revoked API token',
  'member.invite': 'invited',
  'member.invite_resend': 'resent the invitation to',
  'member.invite_link': 'made a new invitation link for',
  'member.invite_revoke': 'revoked the invitation to',
  'member.join': 'joined the organisation',
  'member.set_role': 'changed the role of',
  'member.remove': 'removed',
  'organization.create': 'created the organisation',
  'organization.trial_extend': 'extended the free trial',
  'sso.update': 'set up single sign-on',
  'sso.remove': 'removed single sign-on',
  'alert.acknowledge': 'acknowledged an alert',
  'alert_rule.create': 'added an alert rule',
  'alert_rule.update': 'changed an alert rule',
  'alert_rule.delete': 'removed an alert rule',
  'webhook.create': 'added webhook',
  'webhook.delete': 'removed webhook',
  'webhook.test': 'sent a test to webhook',
} as const satisfies Record<string, string>;
export type AuditAction = keyof typeof AUDIT_ACTIONS;

/** What an event can be about (the audit log's target filter). */
export const AUDIT_TARGET_TYPES = ['service', 'node', 'membership', 'invitation', 'api_token', 'enrollment_token', 'organization'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/** The action in words; an action this list does not know yet reads as its code. */
export function actionLabel(action: string): string {
  return (AUDIT_ACTIONS as Record<string, string>)[action] ?? action;
}

type Data = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);
/** ISO times as a date a person reads (UTC: the log is shared across time zones). */
const day = (v: unknown): string | undefined => {
  const s = str(v);
  const d = s === undefined ? undefined : new Date(s);
  return d && !Number.isNaN(d.getTime()) ? `${d.toISOString().slice(0, 10)}` : undefined;
};

/**
 * The lines an event's stored details add, for actions whose effect is not a
 * service revision (a revision's own field-by-field diff says more and is shown
 * instead; see the audit list). Unknown keys are shown as "key value".
 */
export function describeAuditData(action: string, raw: unknown): string[] {
  const data: Data = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Data) : {};
  const out: string[] = [];
  const known = new Set<string>();
  const take = (key: string, line: (v: string) => string) => {
    known.add(key);
    const v = str(data[key]);
    if (v !== undefined && v !== '') out.push(line(v));
  };
  switch (action) {
    case 'service.create':
      take('vip', (v) => `VIP ${v}`);
      take('ports', (v) => `ports ${v}`);
      known.add('name');
      break;
    case 'service.update':
    case 'service.delete':
      known.add('name');
      if (data.staged && typeof data.staged === 'object') {
        known.add('staged');
        out.push('staged: canary first, then batches');
      }
      break;
    case 'service.rollback':
      known.add('name');
      take('restoredNumber', (v) => `restored revision ${v}`);
      break;
    case 'backend.activate':
    case 'backend.drain':
    case 'backend.disable': {
      const state = { 'backend.activate': 'active', 'backend.drain': 'draining', 'backend.disable': 'disabled' }[action];
      take('address', (v) => `backend ${v} → ${state}`);
      break;
    }
    case 'backend.weight':
      known.add('weight');
      take('address', (v) => `backend ${v} weight → ${str(data.weight) ?? '?'}`);
      break;
    case 'rollout.abort':
    case 'rollout.rolled_back':
      take('toRevision', (v) => `revision ${v} withdrawn`);
      take('restoredNumber', (v) => `revision ${v} restored`);
      take('reason', (v) => `why: ${v}`);
      break;
    case 'rollout.advance':
    case 'rollout.complete':
      take('toRevision', (v) => `to revision ${v}`);
      take('batch', (v) => `batch ${v}`);
      break;
    case 'node.enroll':
      take('name', (v) => `as ${v}`);
      take('token', (v) => `with enrollment token ${v}…`);
      break;
    case 'node.set_role':
    case 'member.set_role':
      take('role', (v) => `role → ${v}`);
      break;
    case 'node.set_announce': {
      // The summary nodes.setAnnounce stores (never a password): BGP and VRRP settings, or cleared.
      const bgp = data.bgp && typeof data.bgp === 'object' ? (data.bgp as Data) : undefined;
      const vrrp = data.vrrp && typeof data.vrrp === 'object' ? (data.vrrp as Data) : undefined;
      if (bgp) {
        known.add('bgp');
        out.push(`BGP: local AS ${str(bgp.localAsn) ?? '?'}, router id ${str(bgp.routerId) ?? '?'}`);
        const peers = Array.isArray(bgp.peers) ? bgp.peers.map(str).filter((p) => p !== undefined) : [];
        if (peers.length > 0) out.push(`BGP peers: ${peers.join(', ')}`);
      }
      if (vrrp) {
        known.add('vrrp');
        const interval = str(vrrp.advertIntervalMs);
        out.push(
          `VRRP: interface ${str(vrrp.interface) ?? '?'}, virtual router ${str(vrrp.virtualRouterId) ?? '?'}, priority ${str(vrrp.priority) ?? '?'}` +
            (interval === undefined ? '' : `, advert every ${interval} ms`),
        );
      }
      if (data.cleared === true) {
        known.add('cleared');
        out.push('announces nothing (BGP and VRRP off)');
      }
      break;
    }
    case 'node.drift_repaired':
      take('what', (v) => `found: ${v}`);
      break;
    case 'token.create':
      take('maxUses', (v) => `up to ${v} ${v === '1' ? 'node' : 'nodes'}`);
      take('expiresAt', (v) => `expires ${day(v) ?? v}`);
      break;
    case 'api_token.create':
      known.add('name');
      take('role', (v) => `role ${v}`);
      take('expiresAt', (v) => `expires ${day(v) ?? v}`);
      if (data.expiresAt === null) out.push('never expires');
      break;
    case 'member.invite':
      take('email', (v) => v);
      take('role', (v) => `as ${v}`);
      break;
    case 'member.join':
      take('role', (v) => `as ${v}`);
      break;
    case 'member.remove':
      // The person is the row's target name.
      known.add('userId');
      break;
    case 'organization.create':
      take('trialEndsAt', (v) => `free trial until ${day(v) ?? v}`);
      take('trial', (v) => `free trial of ${v}`);
      break;
    case 'organization.trial_extend':
      take('trialEndsAt', (v) => `free trial until ${day(v) ?? v}`);
      take('reason', (v) => v);
      break;
  }
  for (const [key, value] of Object.entries(data)) {
    if (known.has(key) || value === null || value === undefined) continue;
    out.push(`${key} ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return out;
}

/** Who an agent's event is by: "agent on <node name>" once the node is known, else what the agent called itself. */
export function agentActorLabel(actorLabel: string, nodeName: string | undefined): string {
  return nodeName ? `agent on ${nodeName}` : actorLabel;
}
